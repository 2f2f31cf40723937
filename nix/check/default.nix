# Offline check of the fediversity modules (no nixpkgs needed):
#   options          - every declared option path:
#                      nix-instantiate --eval --strict --json nix/check -A options
#   errorsIn JSONFILE - what NixOS would reject in a per-VM JSON (undeclared options, wrong types):
#                      nix-instantiate --eval --strict --json -E '(import ./nix/check).errorsIn ./vm.json'
let
  lib = import ./stub-lib.nix;
  unavailable = name: throw "the offline check evaluates option declarations only, not `${name}'";
  moduleArgs = {
    inherit lib;
    config = unavailable "config";
    pkgs = unavailable "pkgs";
    options = unavailable "options";
    modulesPath = unavailable "modulesPath";
  };

  load = m:
    let
      imported = if builtins.isAttrs m || builtins.isFunction m then m else import m;
      module = if builtins.isFunction imported then imported moduleArgs else imported;
    in
    [ module ] ++ builtins.concatMap load (module.imports or [ ]);

  isOption = v: builtins.isAttrs v && (v._type or null) == "option";
  show = path: builtins.concatStringsSep "." path;

  merge = path: trees: builtins.zipAttrsWith
    (name: declared:
      if builtins.length declared == 1 then builtins.head declared
      else if builtins.any isOption declared then throw "The option `${show (path ++ [ name ])}' is declared more than once."
      else merge (path ++ [ name ]) declared)
    trees;

  paths = prefix: tree: builtins.concatMap
    (name:
      let p = prefix ++ [ name ]; in
      if isOption tree.${name} then [ (show p) ] else paths p tree.${name})
    (builtins.attrNames tree);

  problems = path: declared: value:
    if isOption declared then
      if declared ? type && !(declared.type.check value)
      then [ "The option `${show path}' is not of type `${declared.type.description}'." ]
      else [ ]
    else if !builtins.isAttrs value then [ "The option set `${show path}' must be an attribute set, not a ${builtins.typeOf value}." ]
    else builtins.concatMap
      (name:
        if declared ? ${name} then problems (path ++ [ name ]) declared.${name} value.${name}
        else [ "The option `${show (path ++ [ name ])}' does not exist." ])
      (builtins.attrNames value);

  declaredBy = modules: merge [ ] (map (m: m.options or { }) modules);
in
{
  options = builtins.sort builtins.lessThan (paths [ ] (declaredBy (load ../fediversity)));

  errorsIn = jsonFile:
    let vmModule = import ../vm-from-json.nix jsonFile;
    in problems [ "fediversity" ] (declaredBy (load vmModule)).fediversity vmModule.fediversity;
}
