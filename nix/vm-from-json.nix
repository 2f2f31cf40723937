# Turns one per-VM JSON document (written by the configurator) into a NixOS module.
jsonFile: {
  imports = [ ./fediversity ];
  fediversity = (builtins.fromJSON (builtins.readFile jsonFile)).fediversity;
}
