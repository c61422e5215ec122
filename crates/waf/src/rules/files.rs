//! Path traversal and file access (930) and remote file inclusion (931).

use super::*;

/// The rules of this file.
pub(super) const FILES: &[Rule] = &[
    // --- 930: local file inclusion -------------------------------------------------------
    r(
        930100,
        "lfi",
        1,
        Critical,
        RAW | A | N | C | H,
        Lower,
        Rx(
            r"(?:^|[/\\=?&;:,\s'\x22]|%(?:2f|252f|5c|255c|c0%af|u2215|u2216)|0x2f|0x5c)(?:%(?:2e|252e|c0%ae|e0%80%ae|u002e|uff0e)|0x2e|\.){2}(?:%(?:2f|252f|5c|255c|c0%af|c1%9c|c0%2f|c0%5c|u2215|u2216|uefc8|uf025)|/|\\)",
        ),
        "Path traversal (encoded)",
    ),
    r(
        930110,
        "lfi",
        1,
        Critical,
        P | A | N | C | H | F | CN | UA,
        Path,
        Rx(r"(?:^|/)\.{2,}(?:/|$)|\.\.;|/\.{2,}\s"),
        "Path traversal",
    ),
    r(
        930120,
        "lfi",
        1,
        Critical,
        P | A | N | C | F | CN,
        Path,
        Rx(
            r"(?:^|[/=:;\s])(?:etc/(?:passwd|shadow|group|hosts|issue|motd|crontab|sudoers|master\.passwd|security/|ssh/|mysql/|apache2?/|nginx/|httpd/|php\d?/|hostname|resolv\.conf|fstab|profile|environment|init\.d/)|proc/(?:self|\d+)/(?:environ|cmdline|fd|maps|status|mounts|exe|cwd|root)|proc/version|var/log/|var/www/|boot\.ini|win\.ini|system\.ini|windows/(?:system32|win\.ini|repair)|winnt/|inetpub/|\.htaccess|\.htpasswd|\.ssh/|id_(?:rsa|dsa|ecdsa|ed25519)\b|authorized_keys|known_hosts|\.bash_history|\.bashrc|\.git/|\.gitconfig|\.svn/|\.hg/|\.env$|\.aws/credentials|\.docker/config|\.kube/config|web\.config|wp-config\.php|\.npmrc|\.pgpass|\.my\.cnf|\.netrc|sys/(?:class|kernel|devices|block|bus|firmware|fs|module|power)\b|proc/(?:interrupts|cpuinfo|meminfo|net/|sys/|mounts|partitions|modules)|etc/(?:subuid|subgid|gshadow|aliases|exports|inittab|ld\.so|modules|network|ppp|rc\.d|securetty|syslog|xinetd|bashrc|login\.defs)|tmp/|\.docker/|\.kube/|\.gnupg/)",
        ),
        "Operating system file access",
    ),
    r(
        930130,
        "lfi",
        1,
        Critical,
        P,
        Path,
        Rx(
            r"/\.(?:git|svn|hg|bzr|env|htaccess|htpasswd|ds_store|aws|ssh|docker|kube|npmrc|pgpass|bash_history)(?:/|$|\.)|/\.\w*ignore$|\.(?:sql|bak|backup|old|orig|swp|save|dump|mdb|sqlite3?)(?:\.(?:zip|gz|tgz|tar|7z|rar|bz2|xz))?$|/(?:debug|error|errors|access|laravel|php_errors?)\.log$|/\.(?:claude|cursor|continue|aider|roo|zed|cline|kiro|windsurf|rovodev|codex|opencode|a0proj|plandex|fabric|n8n|junie|gemini|copilot|vscode|idea|amazonq|augment|goose)(?:/|$)|/@id/|__x00__",
        ),
        "Restricted file access",
    ),
    r(
        930121,
        "lfi",
        2,
        Critical,
        H | UA,
        Path,
        Rx(
            r"(?:^|[/=:;\s])(?:etc/(?:passwd|shadow|group|hosts|issue|motd|crontab|sudoers|master\.passwd|security/|ssh/|mysql/|apache2?/|nginx/|httpd/|php\d?/|hostname|resolv\.conf|fstab|profile|environment|init\.d/)|proc/(?:self|\d+)/(?:environ|cmdline|fd|maps|status|mounts|exe|cwd|root)|proc/version|var/log/|var/www/|boot\.ini|win\.ini|system\.ini|windows/(?:system32|win\.ini|repair)|winnt/|inetpub/|\.htaccess|\.htpasswd|\.ssh/|id_(?:rsa|dsa|ecdsa|ed25519)\b|authorized_keys|known_hosts|\.bash_history|\.bashrc|\.git/|\.gitconfig|\.svn/|\.hg/|\.env$|\.aws/credentials|\.docker/config|\.kube/config|web\.config|wp-config\.php|\.npmrc|\.pgpass|\.my\.cnf|\.netrc|sys/(?:class|kernel|devices|block|bus|firmware|fs|module|power)\b|proc/(?:interrupts|cpuinfo|meminfo|net/|sys/|mounts|partitions|modules)|etc/(?:subuid|subgid|gshadow|aliases|exports|inittab|ld\.so|modules|network|ppp|rc\.d|securetty|syslog|xinetd|bashrc|login\.defs)|tmp/|\.docker/|\.kube/|\.gnupg/)",
        ),
        "Operating system file in a header",
    ),
    // --- 931: remote file inclusion ------------------------------------------------------
    r(
        931100,
        "rfi",
        1,
        Critical,
        A,
        Lower,
        Rx(r"^(?:file|ftps?|https?)://(?:(?:\d{1,3}\.){3}\d{1,3}|\[?[0-9a-f]*:[0-9a-f:]+\]?)"),
        "Remote file inclusion (URL with an IP address)",
    ),
    r(
        931110,
        "rfi",
        1,
        Critical,
        A,
        Lower,
        Rx(r"\b(?:include|require)(?:_once)?\s*\(?\s*['\x22]?(?:ht|f)tps?://"),
        "Remote file inclusion (include of a URL)",
    ),
    r(
        931120,
        "rfi",
        1,
        Critical,
        A,
        Lower,
        Rx(r"^(?:file|ftps?|https?).*?\?+$"),
        "Remote file inclusion (trailing question mark)",
    ),
    r(
        931130,
        "rfi",
        2,
        Critical,
        A,
        Lower,
        Rx(
            r"^(?:url:|jar:)?(?:file|ftps?|https?|gopher|ldap|jar|local_file|netdoc|dict|tftp)://|^(?:jar|url):",
        ),
        "Remote file inclusion (URL argument)",
    ),
    r(
        931131,
        "rfi",
        2,
        Critical,
        P,
        Lower,
        Rx(r"/(?:file|ftps?|https?):"),
        "Remote file inclusion (URL in the path)",
    ),
];
