# The `fediversity` NixOS module: one VM of an operator's deployment. Its options mirror the
# per-VM JSON the configurator writes (see ../vm-from-json.nix and ../options.json).
{ config, lib, ... }:
let
  cfg = config.fediversity;
  anyService = cfg.mastodon.enable || cfg.peertube.enable || cfg.pixelfed.enable;
  str = description: lib.mkOption { type = lib.types.str; inherit description; };
in
{
  imports = [
    ./vm.nix
    ../mastodon.nix
    ../peertube.nix
    ../pixelfed.nix
  ];

  options.fediversity = {
    operator = str "Identifier of the operator this VM belongs to.";
    domain = str "The operator's domain; each service lives on a host name under it.";
    release = lib.mkOption {
      type = lib.types.str;
      default = "24.11";
      description = "Fediversity release the VM runs (set by the provider's policy); shown in the boot menu label.";
    };
    initialUser = {
      username = str "User name of the operator's first account on every service.";
      displayName = str "Display name of the operator's first account.";
      email = str "E-mail address of the operator's first account; also the ACME contact.";
    };
  };

  config = lib.mkIf anyService {
    system.nixos.tags = [ "fediversity-${cfg.release}" ];
    security.acme = {
      acceptTerms = true;
      defaults.email = cfg.initialUser.email;
    };
    services.nginx = {
      enable = true;
      recommendedProxySettings = true;
      recommendedTlsSettings = true;
      recommendedGzipSettings = true;
      recommendedOptimisation = true;
    };
    networking.firewall.allowedTCPPorts = [ 80 443 ];
  };
}
