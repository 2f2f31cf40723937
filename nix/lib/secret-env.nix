# Activation-script snippets that put secrets where a service reads them, at switch time on the
# VM, so that no secret ever enters the Nix store:
#   envFile   - an environment file assembled from secret files and from secrets generated once;
#   generated - a file holding a random secret, generated once and kept across switches.
{ lib }:
let
  stateDir = "/var/lib/fediversity/secrets";
  random = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'";
  ensureGenerated = path: ''
    if [ ! -s ${path} ]; then (umask 077; ${random} > ${path}); fi
  '';
in
{
  envFile = { name, owner, fromFiles ? { }, generated ? [ ] }: {
    deps = [ "users" "groups" ];
    text = ''
      install -d -m 0755 /run/fediversity/env
      install -d -m 0700 ${stateDir}
      ${lib.concatMapStrings (var: ensureGenerated "${stateDir}/${name}-${var}") generated}
      f=/run/fediversity/env/${name}.env
      install -m 0400 -o ${owner} /dev/null "$f.new"
      ${lib.concatStrings (lib.mapAttrsToList (var: file: ''
        printf '%s=%s\n' ${var} "$(cat ${file})" >> "$f.new"
      '') fromFiles)}
      ${lib.concatMapStrings (var: ''
        printf '%s=%s\n' ${var} "$(cat ${stateDir}/${name}-${var})" >> "$f.new"
      '') generated}
      mv "$f.new" "$f"
    '';
    path = "/run/fediversity/env/${name}.env";
  };

  generated = { name, owner }: {
    deps = [ "users" "groups" ];
    text = ''
      install -d -m 0700 ${stateDir}
      ${ensureGenerated "${stateDir}/${name}"}
      chown ${owner} ${stateDir}/${name}
    '';
    path = "${stateDir}/${name}";
  };
}
