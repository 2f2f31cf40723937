# Mastodon on the operator's VM, wired onto nixpkgs' `services.mastodon`: media in S3 (when a
# bucket is given), mail through the provider's relay (when smtp.host is given), sign-in against
# the operator's subtree of the provider's directory (when ldap.url is given), nginx virtual host
# with an ACME certificate, the operator's admin account.
# Mastodon's LDAP sign-in knows no groups: whoever ldap.userFilter lets in gets a plain account on
# first sign-in; only the admin account made here is Owner (it signs in through LDAP as the same
# user name). Other admins and moderators are given their role in Mastodon itself.
# Its `options` (typed from the configuration schema, nix/service-options.json): singleUserMode (bool), registrations ("open" | "approval" | "closed").
{ config, lib, ... }:
let
  cfg = config.fediversity.mastodon;
  useS3 = cfg.s3.bucket != null;
  useSmtp = cfg.smtp.host != null;
  useLdap = cfg.ldap.url != null;
  service = import ./lib/service-options.nix { inherit config lib; };
  ldap = import ./lib/ldap.nix;
  secrets = (import ./lib/secret-env.nix { inherit lib; }).envFile {
    name = "mastodon";
    owner = config.services.mastodon.user;
    fromFiles = lib.optionalAttrs useS3 { AWS_SECRET_ACCESS_KEY = cfg.s3.secretAccessKeyFile; }
      // lib.optionalAttrs useLdap { LDAP_PASSWORD = cfg.ldap.bindPasswordFile; };
  };
  initDb = config.systemd.services.mastodon-init-db;
  registrations = { open = "open"; approval = "approved"; closed = "close"; }.${cfg.options.registrations};
in
{
  options.fediversity.mastodon = service.declare { name = "mastodon"; title = "Mastodon"; };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      inherit (service.checks "mastodon" cfg) assertions;

      services.mastodon = {
        enable = true;
        localDomain = cfg.hostName;
        configureNginx = true; # virtual host for localDomain with enableACME and forceSSL
        streamingProcesses = lib.max 1 (config.fediversity.vm.cores - 1);
        smtp.fromAddress = if useSmtp then cfg.smtp.fromAddress else "notifications@${cfg.hostName}";
        extraConfig.SINGLE_USER_MODE = lib.boolToString cfg.options.singleUserMode;
      };

      # tootctl cannot set a chosen password, so the account is created by tootctl and its
      # password set through the Rails console, in the environment mastodon-init-db runs with.
      systemd.services.fediversity-mastodon-init = {
        description = "Create the operator's Mastodon admin account and apply the instance settings";
        after = [ "mastodon-init-db.service" ];
        requires = [ "mastodon-init-db.service" ];
        wantedBy = [ "multi-user.target" ];
        path = [ config.services.mastodon.package ];
        environment = initDb.environment // {
          ADMIN_USERNAME = cfg.admin.username;
          ADMIN_EMAIL = cfg.admin.email;
        };
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          User = config.services.mastodon.user;
          WorkingDirectory = config.services.mastodon.package;
          EnvironmentFile = initDb.serviceConfig.EnvironmentFile;
          LoadCredential = "admin-password:${cfg.admin.passwordFile}";
        };
        script = ''
          tootctl accounts create "$ADMIN_USERNAME" --email "$ADMIN_EMAIL" --confirmed --role Owner > /dev/null || true
          rails runner '
            password = File.read(File.join(ENV.fetch("CREDENTIALS_DIRECTORY"), "admin-password")).strip
            user = Account.find_local!(ENV.fetch("ADMIN_USERNAME")).user
            user.update!(password: password, password_confirmation: password, approved: true)
          '
          tootctl settings registrations ${registrations}
        '';
      };
    }
    (lib.mkIf useSmtp {
      services.mastodon.smtp = {
        createLocally = false;
        authenticate = true;
        inherit (cfg.smtp) host port passwordFile;
        user = cfg.smtp.username;
      };
      services.mastodon.extraConfig =
        if cfg.smtp.security == "tls"
        then { SMTP_TLS = "true"; SMTP_ENABLE_STARTTLS = "never"; }
        else { SMTP_ENABLE_STARTTLS = "always"; };
    })
    (lib.mkIf useS3 {
      services.mastodon.extraConfig = {
        S3_ENABLED = "true";
        S3_BUCKET = cfg.s3.bucket;
        S3_ENDPOINT = cfg.s3.endpoint;
        S3_REGION = cfg.s3.region;
        AWS_ACCESS_KEY_ID = cfg.s3.accessKeyId;
      };
    })
    (lib.mkIf useLdap {
      services.mastodon.extraConfig = ldap.mastodon cfg.ldap;
    })
    (lib.mkIf (useS3 || useLdap) {
      services.mastodon.extraEnvFiles = [ secrets.path ];
      system.activationScripts.fediversity-mastodon-env = secrets.script;
    })
  ]);
}
