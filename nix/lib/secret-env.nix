# Activation-script snippets that put secrets where a service reads them, at switch time on the
# VM, so that no secret ever enters the Nix store. Each returns { path; script; }, the script
# being a `system.activationScripts.<name>` value:
#   envFile   - an environment file assembled from secret files and from secrets generated once;
#   generated - a file holding a random secret, generated once and kept across switches.
{ lib }:
let
  stateDir = "/var/lib/fediversity/secrets";
  # 16 random bytes as 32 hex characters: also a valid raw Laravel (Pixelfed) APP_KEY.
  ensureGenerated = path: ''
    if [ ! -s ${path} ]; then (umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > ${path}); fi
  '';
  prepare = ''
    install -d -m 0711 ${stateDir}
    install -d -m 0755 /run/fediversity/env
  '';
in
{
  envFile = { name, owner, fromFiles ? { }, generated ? [ ] }: rec {
    path = "/run/fediversity/env/${name}.env";
    script = {
      deps = [ "users" "groups" ];
      text = prepare
        + lib.concatMapStrings (var: ensureGenerated "${stateDir}/${name}-${var}") generated
        + ''
          install -m 0400 -o ${owner} /dev/null ${path}.new
        ''
        + lib.concatStrings (lib.mapAttrsToList (var: file: ''
          printf '%s=%s\n' ${var} "$(cat ${file})" >> ${path}.new
        '') fromFiles)
        + lib.concatMapStrings (var: ''
          printf '%s=%s\n' ${var} "$(cat ${stateDir}/${name}-${var})" >> ${path}.new
        '') generated
        + ''
          mv ${path}.new ${path}
        '';
    };
  };

  generated = { name, owner }: rec {
    path = "${stateDir}/${name}";
    script = {
      deps = [ "users" "groups" ];
      text = prepare + ensureGenerated path + ''
        chown ${owner} ${path}
      '';
    };
  };
}
