# PeerTube on the operator's VM, wired onto nixpkgs' `services.peertube`: videos in S3 object
# storage (when a bucket is given), mail through the provider's relay (when smtp.host is given),
# sign-in against the operator's subtree of the provider's directory (when ldap.url is given),
# nginx virtual host with an ACME certificate, the initial
# administrator. PeerTube's first administrator is always named `root`: admin.username is unused.
# Directory sign-in is PeerTube's peertube-plugin-auth-ldap (nixpkgs manages no PeerTube plugins):
# installed from npm and given its settings through PeerTube's REST API, as root. Members of the
# admins, moderators and users groups get the Administrator, Moderator and User role when their
# account is made at first sign-in; who is in none of them is refused.
# Its `options` (typed from the configuration schema, nix/service-options.json): transcoding (bool), maxUploadGib (int; nginx's request body limit, which
# bounds single-request uploads; resumable uploads come in chunks).
{ config, lib, pkgs, ... }:
let
  cfg = config.fediversity.peertube;
  useS3 = cfg.s3.bucket != null;
  useSmtp = cfg.smtp.host != null;
  useLdap = cfg.ldap.url != null;
  ldapPlugin = "peertube-plugin-auth-ldap";
  ldapSettings = (import ./lib/ldap.nix).peertube cfg.ldap;
  service = import ./lib/service-options.nix { inherit config lib; };
  secretEnv = import ./lib/secret-env.nix { inherit lib; };
  owner = config.services.peertube.user;
  environment = secretEnv.envFile {
    name = "peertube";
    inherit owner;
    fromFiles = { PT_INITIAL_ROOT_PASSWORD = cfg.admin.passwordFile; }
      // lib.optionalAttrs useS3 { AWS_SECRET_ACCESS_KEY = cfg.s3.secretAccessKeyFile; };
  };
  appSecret = secretEnv.generated { name = "peertube-app-secret"; inherit owner; };
  bucket = prefix: { bucket_name = cfg.s3.bucket; inherit prefix; };
in
{
  options.fediversity.peertube = service.declare { name = "peertube"; title = "PeerTube"; };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      inherit (service.checks "peertube" cfg) assertions;

      services.peertube = {
        enable = true;
        localDomain = cfg.hostName;
        listenWeb = 443;
        enableWebHttps = true;
        configureNginx = true;
        database.createLocally = true;
        redis.createLocally = true;
        secrets.secretsFile = appSecret.path;
        serviceEnvironmentFile = environment.path;
        settings = {
          admin.email = cfg.admin.email;
          transcoding.enabled = cfg.options.transcoding;
        };
      };

      services.nginx.virtualHosts.${cfg.hostName} = {
        enableACME = true;
        forceSSL = true;
        extraConfig = "client_max_body_size ${toString cfg.options.maxUploadGib}G;";
      };

      system.activationScripts.fediversity-peertube-env = environment.script;
      system.activationScripts.fediversity-peertube-app-secret = appSecret.script;
    }
    (lib.mkIf useSmtp {
      services.peertube.smtp = {
        createLocally = false;
        inherit (cfg.smtp) passwordFile;
      };
      services.peertube.settings.smtp = {
        transport = "smtp";
        hostname = cfg.smtp.host;
        inherit (cfg.smtp) port username;
        tls = cfg.smtp.security == "tls";
        disable_starttls = false;
        from_address = cfg.smtp.fromAddress;
      };
    })
    (lib.mkIf useS3 {
      services.peertube.settings.object_storage = {
        enabled = true;
        endpoint = cfg.s3.endpoint;
        region = cfg.s3.region;
        upload_acl = { public = null; private = null; }; # Garage has no ACLs
        web_videos = bucket "web-videos/";
        streaming_playlists = bucket "streaming-playlists/";
        original_video_files = bucket "original-video-files/";
        user_exports = bucket "user-exports/";
      };
      systemd.services.peertube.environment.AWS_ACCESS_KEY_ID = cfg.s3.accessKeyId;
    })
    (lib.mkIf useLdap {
      systemd.services.fediversity-peertube-ldap = {
        description = "Install PeerTube's LDAP plugin and point it at the operator's directory";
        after = [ "peertube.service" ];
        requires = [ "peertube.service" ];
        wantedBy = [ "multi-user.target" ];
        path = [ pkgs.curl pkgs.jq ];
        environment = {
          API = "http://127.0.0.1:${toString config.services.peertube.listenHttp}/api/v1";
          HOST = cfg.hostName; # PeerTube hands out its OAuth client only to its own host name
        };
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          DynamicUser = true;
          LoadCredential = [ "admin-password:${cfg.admin.passwordFile}" "bind-password:${cfg.ldap.bindPasswordFile}" ];
        };
        # Secrets go through stdin and a process substitution, never on a command line.
        script = ''
          set -euo pipefail
          call() { curl --silent --show-error --fail --header "Host: $HOST" "$@"; }
          client=$(call --retry 60 --retry-delay 5 --retry-connrefused "$API/oauth-clients/local")
          token=$(jq -rn --argjson client "$client" --rawfile password "$CREDENTIALS_DIRECTORY/admin-password" \
              '{client_id: $client.client_id, client_secret: $client.client_secret, grant_type: "password",
                username: "root", password: ($password | rtrimstr("\n"))} | to_entries | map("\(.key)=\(.value | @uri)") | join("&")' \
            | call --data @- "$API/users/token" | jq -r .access_token)
          auth() { call --header @<(printf 'Authorization: Bearer %s\n' "$token") "$@"; }
          if ! auth --output /dev/null "$API/plugins/${ldapPlugin}"; then
            auth --header "Content-Type: application/json" --data '{"npmName": "${ldapPlugin}"}' "$API/plugins/install" > /dev/null
          fi
          jq -n --argjson settings ${lib.escapeShellArg (builtins.toJSON ldapSettings)} --rawfile password "$CREDENTIALS_DIRECTORY/bind-password" \
              '{settings: ($settings + {"bind-credentials": ($password | rtrimstr("\n"))})}' \
            | auth --request PUT --header "Content-Type: application/json" --data @- "$API/plugins/${ldapPlugin}/settings" > /dev/null
        '';
      };
    })
  ]);
}
