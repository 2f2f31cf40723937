# Just enough of nixpkgs' `lib` to evaluate the option declarations of the fediversity modules
# offline, where `<nixpkgs>` is not available. Types carry `description` and `check` as in nixpkgs.
let
  mkType = description: check: { _type = "option-type"; inherit description check; };
  types = {
    str = mkType "string" builtins.isString;
    strMatching = pattern: mkType "string matching the pattern ${pattern}" (v: builtins.isString v && builtins.match pattern v != null);
    bool = mkType "boolean" builtins.isBool;
    int = mkType "signed integer" builtins.isInt;
    ints = {
      positive = mkType "positive integer, meaning >0" (v: builtins.isInt v && v > 0);
      between = lowest: highest: mkType "integer between ${toString lowest} and ${toString highest} (both inclusive)"
        (v: builtins.isInt v && v >= lowest && v <= highest);
    };
    path = mkType "absolute path" (v: builtins.isString v && builtins.substring 0 1 v == "/");
    anything = mkType "anything" (v: true);
    attrsOf = t: mkType "attribute set of ${t.description}"
      (v: builtins.isAttrs v && builtins.all t.check (builtins.attrValues v));
    listOf = t: mkType "list of ${t.description}" (v: builtins.isList v && builtins.all t.check v);
    nullOr = t: mkType "null or ${t.description}" (v: v == null || t.check v);
    port = mkType "16 bit unsigned integer; between 0 and 65535 (both inclusive)" (v: builtins.isInt v && v >= 0 && v <= 65535);
    enum = values: mkType "one of ${builtins.concatStringsSep ", " (map (v: ''"${v}"'') values)}" (v: builtins.elem v values);
  };
in
{
  inherit types;
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: {
    _type = "option";
    type = types.bool;
    default = false;
    description = "Whether to enable ${name}.";
  };
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  subtractLists = remove: builtins.filter (x: !(builtins.elem x remove));
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  inherit (builtins) mapAttrs;
}
