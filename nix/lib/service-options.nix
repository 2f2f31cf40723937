# What every Fediverse service module shares: the options it declares under
# `fediversity.<name>` (mirroring the per-VM JSON: enable, hostName, s3.*, admin.*, smtp.*, ldap.*,
# and the service's own `options`, typed from the configuration's JSON Schema), and its checks: S3,
# SMTP and LDAP settings are complete.
{ config, lib }:
let
  inherit (lib) mkOption types;
  initialUser = config.fediversity.initialUser;
  serviceOptions = builtins.fromJSON (builtins.readFile ../service-options.json);
  typeOf = spec:
    if spec ? enum then types.enum spec.enum
    else if spec.type == "boolean" then types.bool
    else if spec.type == "integer" then types.ints.between (spec.minimum or (-9223372036854775807)) (spec.maximum or 9223372036854775807)
    else types.str;
in
{
  declare = { name, title }: {
    enable = lib.mkEnableOption title;
    hostName = mkOption {
      type = types.str;
      default = "${name}.${config.fediversity.domain}";
      defaultText = lib.literalExpression ''"${name}.''${config.fediversity.domain}"'';
      description = "Public host name ${title} answers on (nginx virtual host, ACME certificate).";
    };
    s3 = {
      bucket = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "S3 bucket holding ${title}'s media; null keeps media on the VM's disk.";
      };
      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://s3.provider.example";
        description = "URL of the S3 API (Garage).";
      };
      region = mkOption {
        type = types.str;
        default = "garage";
        description = "S3 region name.";
      };
      accessKeyId = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "S3 access key id (not secret).";
      };
      secretAccessKeyFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "File on the VM holding the S3 secret access key.";
      };
    };
    admin = {
      username = mkOption {
        type = types.str;
        default = initialUser.username;
        defaultText = lib.literalExpression "config.fediversity.initialUser.username";
        description = "User name of ${title}'s administrator account.";
      };
      email = mkOption {
        type = types.str;
        default = initialUser.email;
        defaultText = lib.literalExpression "config.fediversity.initialUser.email";
        description = "E-mail address of ${title}'s administrator account.";
      };
      passwordFile = mkOption {
        type = types.path;
        description = "File on the VM holding the administrator's initial password.";
      };
    };
    smtp = {
      host = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "smtp.relay.provider.example";
        description = "The provider's mail relay ${title} sends its mail through; null: ${title} sends no mail.";
      };
      port = mkOption {
        type = types.port;
        default = 587;
        description = "Port of the mail relay.";
      };
      security = mkOption {
        type = types.enum [ "starttls" "tls" ];
        default = "starttls";
        description = "starttls: upgrade a plain connection (usually port 587); tls: TLS from the start (usually port 465).";
      };
      username = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "${title}'s own login at the mail relay.";
      };
      passwordFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "File on the VM holding the mail relay password.";
      };
      fromAddress = mkOption {
        type = types.str;
        default = "${name}@${config.fediversity.domain}";
        defaultText = lib.literalExpression ''"${name}@''${config.fediversity.domain}"'';
        description = "Sender address of ${title}'s mail (the domain's SPF record allows the relay to use it).";
      };
    };
    ldap = {
      url = mkOption {
        type = types.nullOr (types.strMatching "ldaps?://[^/:]+(:[0-9]+)?/?");
        default = null;
        example = "ldaps://ldap.provider.example:636";
        description = "The provider's directory as this VM reaches it (ldaps: TLS from the start); null: ${title} signs in its own accounts only.";
      };
      bindDn = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "cn=reader,ou=acme,dc=fedi,dc=test";
        description = "The operator's read-only account ${title} searches the directory with.";
      };
      bindPasswordFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "File on the VM holding the password of bindDn.";
      };
      searchBase = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ou=acme,dc=fedi,dc=test";
        description = "Where users are searched: the operator's subtree.";
      };
      userFilter = mkOption {
        type = types.str;
        default = "(objectClass=inetOrgPerson)";
        description = "LDAP filter of the entries that may sign in to ${title} (the operator's people and ${title}'s admin account).";
      };
      groupBase = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ou=${name},ou=acme,dc=fedi,dc=test";
        description = "Where ${title}'s groups are.";
      };
      groups = lib.genAttrs [ "admins" "moderators" "users" ] (role: mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "cn=${role},ou=${name},ou=acme,dc=fedi,dc=test";
        description = "DN of the group (groupOfNames) whose members are ${title}'s ${role}.";
      });
      attributes = lib.mapAttrs
        (attribute: meaning: mkOption {
          type = types.str;
          default = attribute;
          description = "Attribute holding a user's ${meaning}.";
        })
        { uid = "login name"; mail = "e-mail address"; cn = "display name"; };
    };
    # The service's own settings from the operator's form, typed as the configuration's JSON Schema
    # says (nix/service-options.json is generated from it: `make docs`).
    options = lib.mapAttrs (key: spec: mkOption {
      type = typeOf spec;
      default = spec.default;
      description = "${spec.title}: ${spec.description}";
    }) serviceOptions.${name};
  };

  checks = name: cfg: {
    assertions = map
      (option: {
        assertion = cfg.s3.bucket == null || cfg.s3.${option} != null;
        message = "fediversity.${name}.s3.${option} must be set when fediversity.${name}.s3.bucket is.";
      })
      [ "endpoint" "accessKeyId" "secretAccessKeyFile" ]
    ++ map
      (option: {
        assertion = cfg.smtp.host == null || cfg.smtp.${option} != null;
        message = "fediversity.${name}.smtp.${option} must be set when fediversity.${name}.smtp.host is.";
      })
      [ "username" "passwordFile" ]
    ++ map
      (option: {
        assertion = cfg.ldap.url == null || cfg.ldap.${option} != null;
        message = "fediversity.${name}.ldap.${option} must be set when fediversity.${name}.ldap.url is.";
      })
      [ "bindDn" "bindPasswordFile" "searchBase" "groupBase" ];
  };
}
