# What each service's own LDAP support is told, from its `fediversity.<service>.ldap` section (the
# per-VM JSON's `ldap`, written by the configurator). Plain functions of that section using builtins
# only, so that the tests evaluate them offline; the service modules put their results in place.
# The bind password is never here: each module reads it from ldap.bindPasswordFile on the VM.
let
  inherit (builtins) elemAt fromJSON match replaceStrings;

  # ldap.url is written by the configurator as scheme://host:port.
  server = url:
    let
      parts = match "(ldaps?)://([^:/]+)(:([0-9]+))?/?" url;
      tls = elemAt parts 0 == "ldaps";
      port = elemAt parts 3;
    in
    {
      inherit tls;
      host = elemAt parts 1;
      port = if port == null then (if tls then 636 else 389) else fromJSON port;
    };

  # Who may sign in (ldap.userFilter) and which of them is meant by what was typed: login name or e-mail.
  byLogin = ldap: typed:
    "(&${ldap.userFilter}(|(${ldap.attributes.uid}=${typed})(${ldap.attributes.mail}=${typed})))";

  # A literal % is %% both for Ruby's format() (Mastodon's filter) and for systemd's Environment= lines.
  percent = replaceStrings [ "%" ] [ "%%" ];
in
{
  inherit server;

  # Mastodon's environment (config/initializers/devise.rb, app/models/concerns/ldap_authenticable.rb),
  # for services.mastodon.extraConfig; LDAP_PASSWORD goes in the secret environment file.
  # Mastodon formats LDAP_SEARCH_FILTER with %{email} as what was typed.
  mastodon = ldap:
    let s = server ldap.url; in
    {
      LDAP_ENABLED = "true";
      LDAP_HOST = s.host;
      LDAP_PORT = toString s.port;
      LDAP_METHOD = if s.tls then "simple_tls" else "plain";
      LDAP_BASE = ldap.searchBase;
      LDAP_BIND_DN = ldap.bindDn;
      LDAP_UID = ldap.attributes.uid;
      LDAP_MAIL = ldap.attributes.mail;
      LDAP_SEARCH_FILTER = percent (byLogin (ldap // { userFilter = percent ldap.userFilter; }) "%{email}");
      # Mastodon user names are [a-z0-9_]: a directory login such as jane.doe becomes jane_doe.
      LDAP_UID_CONVERSION_ENABLED = "true";
    };

  # The settings of PeerTube's peertube-plugin-auth-ldap (its main.js registerSetting names), for its
  # settings API; `bind-credentials` is added from the file when they are applied. With group-base
  # set, a user must be in one of the three groups and gets the role of the first of admins,
  # moderators, users it is in (when PeerTube creates the account).
  peertube = ldap: {
    url = ldap.url;
    insecure-tls = false;
    bind-dn = ldap.bindDn;
    search-base = ldap.searchBase;
    search-filter = byLogin ldap "{{username}}";
    mail-property = ldap.attributes.mail;
    username-property = ldap.attributes.uid;
    group-base = ldap.groupBase;
    group-filter = "(member={{dn}})";
    group-admin = ldap.groups.admins;
    group-mod = ldap.groups.moderators;
    group-user = ldap.groups.users;
  };

  # Pixelfed's .env for its LDAP connection (config/ldap.php), for services.pixelfed.settings;
  # LDAP_PASSWORD goes in the secret environment file.
  pixelfed = ldap:
    let s = server ldap.url; in
    {
      LDAP_HOST = s.host;
      LDAP_PORT = s.port;
      LDAP_SSL = s.tls;
      LDAP_TLS = false;
      LDAP_BASE_DN = ldap.searchBase;
      LDAP_USERNAME = ldap.bindDn;
    };
}
