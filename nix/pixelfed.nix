# Pixelfed on the operator's VM, wired onto nixpkgs' `services.pixelfed`: media in S3 (when a
# bucket is given), mail through the provider's relay (when smtp.host is given), the directory
# connection (when ldap.url is given), nginx virtual host with an ACME certificate, the operator's
# admin account.
# Pixelfed's LDAP connection settings (config/ldap.php) are set, but Pixelfed as released does not
# sign anyone in with them: its LDAP user provider is commented out in config/auth.php and the
# LdapRecord package it needs is not among its dependencies (a NixOS warning says so). It has no
# settings for a user filter or groups, so roles are given in Pixelfed itself.
# Its `options` (typed from the configuration schema, nix/service-options.json): registrations (bool: open sign-ups), maxPhotoMib (int).
{ config, lib, ... }:
let
  cfg = config.fediversity.pixelfed;
  useS3 = cfg.s3.bucket != null;
  useSmtp = cfg.smtp.host != null;
  useLdap = cfg.ldap.url != null;
  service = import ./lib/service-options.nix { inherit config lib; };
  secrets = (import ./lib/secret-env.nix { inherit lib; }).envFile {
    name = "pixelfed";
    owner = config.services.pixelfed.user;
    fromFiles = lib.optionalAttrs useS3 { AWS_SECRET_ACCESS_KEY = cfg.s3.secretAccessKeyFile; }
      // lib.optionalAttrs useSmtp { MAIL_PASSWORD = cfg.smtp.passwordFile; }
      // lib.optionalAttrs useLdap { LDAP_PASSWORD = cfg.ldap.bindPasswordFile; };
    generated = [ "APP_KEY" ];
  };
  dataDir = config.services.pixelfed.dataDir;
  maxPhotoMib = cfg.options.maxPhotoMib;
in
{
  options.fediversity.pixelfed = service.declare { name = "pixelfed"; title = "Pixelfed"; };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      inherit (service.checks "pixelfed" cfg) assertions;

      services.pixelfed = {
        enable = true;
        domain = cfg.hostName;
        secretFile = secrets.path;
        maxUploadSize = "${toString maxPhotoMib}M";
        nginx = {
          enableACME = true;
          forceSSL = true;
        };
        settings = {
          OPEN_REGISTRATION = cfg.options.registrations;
          MAX_PHOTO_SIZE = maxPhotoMib * 1024; # in KiB
        };
      };

      system.activationScripts.fediversity-pixelfed-env = secrets.script;

      systemd.services.fediversity-pixelfed-admin = {
        description = "Create the operator's Pixelfed admin account";
        after = [ "pixelfed-data-setup.service" ];
        requires = [ "pixelfed-data-setup.service" ];
        wantedBy = [ "multi-user.target" ];
        environment = {
          ADMIN_NAME = config.fediversity.initialUser.displayName;
          ADMIN_USERNAME = cfg.admin.username;
          ADMIN_EMAIL = cfg.admin.email;
        };
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          User = config.services.pixelfed.user;
          LoadCredential = "admin-password:${cfg.admin.passwordFile}";
        };
        script = ''
          marker=${dataDir}/.fediversity-admin-created
          [ -e "$marker" ] && exit 0
          /run/current-system/sw/bin/pixelfed-manage user:create \
            --name="$ADMIN_NAME" --username="$ADMIN_USERNAME" --email="$ADMIN_EMAIL" \
            --password="$(cat "$CREDENTIALS_DIRECTORY/admin-password")" \
            --is_admin=1 --confirm_email=1
          touch "$marker"
        '';
      };
    }
    (lib.mkIf useSmtp {
      services.pixelfed.settings = {
        MAIL_MAILER = "smtp";
        MAIL_HOST = cfg.smtp.host;
        MAIL_PORT = cfg.smtp.port;
        MAIL_USERNAME = cfg.smtp.username;
        MAIL_ENCRYPTION = if cfg.smtp.security == "tls" then "ssl" else "tls";
        MAIL_FROM_ADDRESS = cfg.smtp.fromAddress;
        MAIL_FROM_NAME = "Pixelfed";
      };
    })
    (lib.mkIf useS3 {
      services.pixelfed.settings = {
        PF_ENABLE_CLOUD = true;
        FILESYSTEM_CLOUD = "s3";
        AWS_BUCKET = cfg.s3.bucket;
        AWS_ENDPOINT = cfg.s3.endpoint;
        AWS_DEFAULT_REGION = cfg.s3.region;
        AWS_USE_PATH_STYLE_ENDPOINT = true;
        AWS_ACCESS_KEY_ID = cfg.s3.accessKeyId;
      };
    })
    (lib.mkIf useLdap {
      services.pixelfed.settings = (import ./lib/ldap.nix).pixelfed cfg.ldap;
      warnings = [
        "fediversity.pixelfed.ldap: Pixelfed's release has no LDAP sign-in enabled (config/auth.php, LdapRecord); its users sign in with Pixelfed's own accounts."
      ];
    })
  ]);
}
