# PeerTube on the operator's VM, wired onto nixpkgs' `services.peertube`: videos in S3 object
# storage (when a bucket is given), mail through the provider's relay (when smtp.host is given),
# nginx virtual host with an ACME certificate, the initial
# administrator. PeerTube's first administrator is always named `root`: admin.username is unused.
# Understood `options`: transcoding (bool), maxUploadGib (int; nginx's request body limit, which
# bounds single-request uploads; resumable uploads come in chunks).
{ config, lib, ... }:
let
  cfg = config.fediversity.peertube;
  useS3 = cfg.s3.bucket != null;
  useSmtp = cfg.smtp.host != null;
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
      inherit (service.checks "peertube" [ "transcoding" "maxUploadGib" ] cfg) assertions warnings;

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
          transcoding.enabled = cfg.options.transcoding or true;
        };
      };

      services.nginx.virtualHosts.${cfg.hostName} = {
        enableACME = true;
        forceSSL = true;
        extraConfig = "client_max_body_size ${toString (cfg.options.maxUploadGib or 4)}G;";
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
  ]);
}
