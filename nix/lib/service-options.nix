# What every Fediverse service module shares: the options it declares under
# `fediversity.<name>` (mirroring the per-VM JSON: enable, hostName, s3.*, admin.*, options),
# and its checks: S3 settings are complete, and a warning for `options` keys it does not understand.
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
      [ "endpoint" "accessKeyId" "secretAccessKeyFile" ];
    warnings = map
      (key: "fediversity.${name}.options.${key} is not understood by the ${name} module and is ignored.")
      (lib.subtractLists understood (builtins.attrNames cfg.options));
  };
}
