# The VM itself: `fediversity.vm.*` as provisioned on Proxmox, and what every guest needs.
{ config, lib, ... }:
let
  vm = config.fediversity.vm;
  positive = description: lib.mkOption { type = lib.types.ints.positive; inherit description; };
in
{
  options.fediversity.vm = {
    name = lib.mkOption {
      type = lib.types.str;
      description = "Name of the VM; also its host name.";
    };
    address = lib.mkOption {
      type = lib.types.str;
      description = "IP address the VM was given; the deployer targets it.";
    };
    authorizedKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Public SSH keys allowed to log in as root: the operator's deploy key, filled in by the orchestrator.";
    };
    cores = positive "Virtual CPU cores provisioned; sizes worker processes.";
    memoryMiB = positive "Memory provisioned, in MiB (informational on the guest).";
    diskGiB = positive "Root disk provisioned, in GiB (informational on the guest).";
  };

  config = {
    networking.hostName = vm.name;
    services.qemuGuest.enable = true;
    services.openssh = {
      enable = true;
      settings.PasswordAuthentication = false;
    };
    users.users.root.openssh.authorizedKeys.keys = vm.authorizedKeys;
    boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_scsi" "virtio_blk" "virtio_net" "ahci" "sd_mod" ];
    boot.loader.grub.device = lib.mkDefault "/dev/sda";
    fileSystems."/" = lib.mkDefault {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
    };
    nix.settings.max-jobs = lib.mkDefault vm.cores;
    system.stateVersion = lib.mkDefault "24.11";
  };
}
