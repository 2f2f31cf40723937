# What every Fediverse service module shares: the options it declares under
# `fediversity.<name>` (mirroring the per-VM JSON: enable, hostName, s3.*, admin.*, smtp.*, options),
# and its checks: S3 and SMTP settings are complete, and a warning for `options` keys it does not understand.
{ config, lib }:
let
  inherit (lib) mkOption types;
  initialUser = config.fediversity.initialUser;
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
    options = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = "Extra options from the operator's form; the module documents the keys it understands.";
    };
  };

  checks = name: understood: cfg: {
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
      [ "username" "passwordFile" ];
    warnings = map
      (key: "fediversity.${name}.options.${key} is not understood by the ${name} module and is ignored.")
      (lib.subtractLists understood (builtins.attrNames cfg.options));
  };
}
