# Renders the sections of nix/service.nix as a unit file, with builtins only:
# lists become repeated keys, booleans true/false, empty values are dropped.
# home-manager and NixOS render units themselves; this is for running the
# same definition under a plain systemd (the Debian test) and for checking it
# without nixpkgs.
sections:
let
  render =
    value:
    if builtins.isBool value then
      (if value then "true" else "false")
    else
      toString value;
  lines =
    key: value:
    if builtins.isList value then
      map (item: "${key}=${render item}") value
    else if value == null then
      [ ]
    else
      [ "${key}=${render value}" ];
  section =
    name:
    let
      body = sections.${name};
      keys = builtins.filter (key: body.${key} != [ ] && body.${key} != null) (builtins.attrNames body);
    in
    "[${name}]\n" + builtins.concatStringsSep "" (map (line: line + "\n") (builtins.concatLists (map (key: lines key body.${key}) keys)));
  order = builtins.filter (name: builtins.hasAttr name sections) [
    "Unit"
    "Service"
    "Install"
  ];
in
builtins.concatStringsSep "\n" (map section order)
