//! Unix and Windows command injection (932).

use super::*;

/// What may come before a command: a shell separator or a command substitution (a brace
/// group is a rule of its own), then any number of variable assignments (`A=b id`) and of
/// wrappers that run the command they are given, with their options (`-x`, `--long`,
/// `--long=value`, and an argument after each where the wrapper takes one). The view is
/// the shell's
/// ([`crate::decode::cmd_line`]): quotes are gone, so `env A='b c'` reads `env a=b c`;
/// and lower case, so ASCII classes do (Unicode's `\w` and `\d` in the four copies made
/// the automata larger).
macro_rules! command_start {
    () => {
        concat!(
            // Assignments before the command, `+=` and array elements too; a quoted
            // value is words apart once its quotes are gone (`A="b c" id`).
            r"(?:[;&|`\n\r]|\$\()\s*(?:[a-z0-9_]+(?:\[[^\]\s]*\])?\+?=\S*(?:\s+[^\s=;&|]+){0,3}?\s+)*(?:(?:",
            r"env(?:\s+-[a-z0-9_-]*(?:=\S*)?|\s+[a-z0-9_]+=\S*(?:\s+[^\s=;&|]+)*?)*|",
            r"bwrap(?:\s+--?[a-z0-9_-]+(?:\s*/\S*|\s+[^\s-]\S*){0,2})*|coproc(?:\s+[a-z_][a-z0-9_]*\s*(?:\{|\())?|",
            r"parallel(?:\s+--?[a-z0-9_-]+)*\s+:::|",
            r"nice(?:\s+-n\s*-?[0-9]+|\s+--adjustment=-?[0-9]+|\s+-[0-9]+)?|",
            r"nohup|time(?:\s+-p)?|busybox|toybox|builtin|eval|exec(?:\s+-[a-z0-9_]+)*|command(?:\s+-p)?|",
            r"rlwrap|unbuffer|catchsegv|dbus-launch|torsocks|proxychains[0-9]?(?:\s+-q)?|",
            r"faketime\s+\S+|chrt(?:\s+-[a-z0-9_]+)*\s+[0-9]+|sg\s+\S+(?:\s+-c)?|",
            r"(?:sudo|doas|pkexec|runuser|setpriv|capsh|firejail|proot|systemd-run|numactl|",
            r"strace|ltrace|valgrind|watch|xargs|setsid|unshare|nsenter|cpulimit|stdbuf|ionice|",
            r"script|timeout|taskset|flock|chroot|xvfb-run|chronic|ssh-agent|dbus-run-session)",
            // Options, each with the argument it may take.
            r"(?:\s+--?[a-z0-9_-]+(?:=\S*|\s+[a-z0-9_.:/,=-]+)?)*",
            // The positional arguments before the command: a CPU mask, a lock file, a new
            // root, a duration.
            r"(?:\s+(?:0x)?[0-9a-f,-]+|\s*/\S*|\s+[0-9.]+[smhd]?)?",
            r")\s+)*",
        )
    };
}

/// A command after `&`, `&&` or `;` that chains it to a word before: the common commands
/// an injection runs, with what makes them one (an end, an option, a path, a separator).
/// "Head & Shoulders", "ID;Name;Email" and "dog; cat; bird" chain no command (black-box
/// passes 11 and 12, B11-7 and B12-3).
macro_rules! chained_command {
    () => {
        r"(?:cat|tac|ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|wget|curl|nc|ncat|netcat|telnet|bash|sh|zsh|dash|ksh|python[23]?|perl|ruby|php|node|rm|nslookup|ping|sleep|powershell|cmd)(?:\.exe)?(?:\s*$|\s*[<>|&;`]|\s+-|\s*/|\s+\$|\s+\S*[/.])"
    };
}

/// The Unix and Windows commands of 932236 and 932239 (CRS's unix-shell and
/// windows-commands lists, as far as an API sees them), a group to put between a
/// separator and the end of the word.
macro_rules! unix_commands {
    () => {
        r"(?:ex|cpulimit|date|ssh(?:-\w+)?|uconv|visudo|who|w|ll|top|ps|ping|fold|cd|rmt(?:-tar)?|last(?:log)?|adduser|tee|watch|strings|file|stat|df|du|free|lsblk|uptime|ulimit|ionice|taskset|nl|od|hexdump|comm|csplit|expand|fmt|join|look|paste|pr|rev|shuf|sort|split|tac|tail|head|tr|uniq|wc|dd|less|more|find|ls|cp|mv|mkdir|touch|echo|printf|sleep|iwr|irm|wget\d?|c89|c99|cc|make|ld|strace|ltrace|script|setarch|unshare|nsenter|capsh|ansible(?:-\w+)?|apt(?:-get|itude)?|awk|base32|base64|bash|bsdtar|busybox|bzip2|cat|chattr|chef(?:-\w+)?|chmod|chown|chroot|cpan|crontab|cscli|csh|curl|dash|dmesg|docker|dpkg|emacs|env|eval|exec|expect|export|finger|ftp|g\+\+|gcc|gdb|gem|git|grep|gzip|history|iconv|id|ifconfig|irb|java|journalctl|kill(?:all)?|ksh|kubectl|ln|locate|lsof|lua|mkfifo|mount|mysql|nano|nc|ncat|netcat|netstat|nmap|node|nohup|nslookup|npm|openssl|passwd|perl|php\d?|pip\d?|pkexec|pkill|printenv|psql|puppet|pwd|python[\d.]*|rake|rbash|readelf|rm|route|rpm|rsync|ruby|scp|screen|sed|service|setfacl|sftp|sh|shutdown|socat|sqlite3|ssh|strace|su|sudo|sysctl|systemctl|tar|tcpdump|tclsh|telnet|tftp|tmux|traceroute|uname|unzip|useradd|usermod|vim?|wall|wget|whoami|xargs|xterm|xxd|yum|zip|zsh|aa-\w+|bcdboot|bcdedit|cmd|powershell|wmic|regedit|reg|schtasks|taskkill|tasklist|net|netsh|certutil|bitsadmin|cacls|icacls|takeown|vssadmin|wevtutil|diskpart|format|attrib|cipher|sc)(?:\.exe)?"
    };
}

/// The rules of this file.
pub(super) const RCE: &[Rule] = &[
    // --- 932: remote command execution ---------------------------------------------------
    r(
        932100,
        "rce",
        1,
        Critical,
        A | N | C | UA | CN | F,
        Cmd,
        Rx(concat!(
            command_start!(),
            r"(?:cat|tac|ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|wget|curl|nc(?:\.\w+)?|ncat|netcat|telnet|ssh|scp|bash|sh|zsh|dash|ksh|csh|tcsh|python[23]?|perl|ruby|php|node|lua|chmod|chown|rm|nslookup|dig|drill|getent(?:\s+\w+)?|ping6?|host|printenv|traceroute|grep|egrep|awk|gawk|sed|xargs|base64|xxd|crontab|sudo|useradd|mkfifo|socat|nohup|systemctl|busybox|powershell|cmd|systeminfo|tasklist|gdb|sshpass|fping6?|hping\d?)(?:\.exe)?(?:\s*[<>|`)]|\s*;\s*\}|\s*(?:&&?|;)\s*(?:$|",
            chained_command!(),
            r")|\s+-|\s*/|\s+\$|\s+\S*[/.])|",
            // A command that does its work alone, last or before a comment (`;id`,
            // `&& whoami #`, a shell or interpreter reading what comes in); "dog; cat"
            // and "Tools: grep; sed; awk" end in words that do nothing alone (black-box
            // pass 13, B13-16).
            command_start!(),
            r"(?:ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|ps|printenv|systeminfo|tasklist|ver|sh|bash|zsh|dash|ksh|csh|tcsh|python[23]?|perl|ruby|php|node|lua|powershell|cmd|nc|ncat|netcat|telnet|socat)(?:\.exe)?\s*(?:$|#)|",
            // Reconnaissance no list or prose names after a separator, whatever follows
            // (`x;whoami;zz`, `a;ifconfig;b`), and destructive commands with an argument
            // (`x;reboot now`, `x;useradd evil`): pass 13, B13-8.
            r"[;&|`\n\r]\s*(?:whoami|uname|ifconfig|ipconfig|netstat|printenv|systeminfo|tasklist)(?:\.exe)?\b|",
            r"[;&|`\n\r]\s*(?:reboot|shutdown|halt|poweroff|killall|pkill|useradd|userdel|usermod|passwd|chpasswd)\s+[a-z0-9-]|[;&|`\n\r]\s*history\s+-c\b|",
            // A brace group: `{`, a blank, a command, and the `;` that must end it
            // (`{ id; }`); GraphQL's `{ id ...Parts }` and templates' `{id}` are none.
            r"\{\s+(?:cat|tac|ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|wget|curl|nc|ncat|netcat|telnet|bash|sh|zsh|dash|ksh|python[23]?|perl|ruby|php|node|rm|nslookup|ping|sleep|echo|printf|env|ps|kill|head|tail|more|less|find|base64|xxd|chmod|chown|sudo|useradd|mkfifo|socat|busybox|powershell|cmd)(?:\.exe)?(?:\s+[^;{}]*)?;\s*\}|",
            command_start!(),
            r"(?:source|\.|more|less|head|tail|nl|dir|ps|kill|fetch|mv|cp|touch|echo|printf|env|export|ping6?|dig|sleep|find|od|dd|tar|zip|unzip|gzip|su|passwd|timeout|eval|exec|sort|uniq|cut|rev|mount|tee|vi|vim|nano|openssl|set|type|net|ver)(?:\.exe)?(?:\s*[<>|`)]\s*\S|\s*;\s*\}|\s*(?:&&?|;)\s*",
            chained_command!(),
            r"|\s+-\w|\s*/\S|\s+\$)|^(?:cat|tac|ls|id|whoami|uname|hostname|ifconfig|ipconfig|netstat|pwd|wget|curl|nc(?:\.\w+)?|ncat|netcat|telnet|ssh|scp|bash|sh|zsh|dash|ksh|csh|tcsh|python[23]?|perl|ruby|php|node|lua|chmod|chown|rm|nslookup|traceroute|grep|egrep|awk|gawk|sed|xargs|base64|xxd|crontab|sudo|useradd|mkfifo|socat|nohup|systemctl|busybox|powershell|cmd|systeminfo|tasklist|more|less|head|tail|nl|dir|ps|kill|fetch|mv|cp|touch|echo|printf|env|export|ping6?|dig|sleep|find|od|dd|tar|zip|unzip|gzip|su|passwd|timeout|eval|exec|sort|uniq|cut|rev|mount|tee|vi|vim|nano|openssl|set|type|net|ver)(?:\.exe)?(?:\s+-\w|\s*/[a-z._~]|\s*[<>|`]\s*\S|\s+\$|\s*(?:&&?|;)\s*",
            // A value that starts with a command name and `&` or `;` is a name or a
            // title ("Head & Shoulders", "ID;Name;Email") unless a command runs after it.
            chained_command!(),
            r")|",
            command_start!(),
            r"(?:trap\s+\S+\s+(?:exit|err|debug|return|int|term|hup|[0-9]+)\b|env\s+(?:-\S+\s+)*?--split-string=(?:nc|ncat|netcat|bash|sh|id|cat|curl|wget|python[23]?|perl|php|ruby|socat|telnet)\b|sleep\s*\d|(?:nc|ncat|netcat|telnet|socat)\s+(?:-\w+\s+)*[\w.:-]+\s+\d{1,5}\b|(?:fish|expect|tclsh|wish)(?:\s+-[\w-]+)*\s+-\w*c|fish\s+(?:--\S+\s+)*(?:--command\b|\S+\.fish\b)|expect\s+(?:-[\w-]+\s+)*(?:-[fi]\b|\S+\.exp\b)|openssl\s+(?:s_client|s_server|enc|req|rsautl|pkeyutl|dgst|genrsa|x509|passwd|base64)\b|(?:sudo|doas)\s+-[si]\b)|",
            command_start!(),
            r"(?:ps\s+(?:-?aux|-e?f)\b|su\s+(?:-\w*\s+)*root\b|find\s+[^;&|\n]*?\s-(?:exec|execdir|ok|okdir)\s)",
        )),
        "Unix or Windows command injection",
    ),
    r(
        932130,
        "rce",
        1,
        Critical,
        A | N | C | UA | CN | F,
        Decoded,
        Rx(r"(?i)\$\(\s*[a-z]+[^)]*\)"),
        "Unix shell expression",
    ),
    r(
        932131,
        "rce",
        2,
        Critical,
        A | N | C | UA,
        Decoded,
        Rx(
            r"(?i)(?:^|[^`])`\s*(?:cat|ls|id|whoami|uname|wget|curl|nc|bash|sh|sleep|ping|echo|python|perl|php)\b[^`]*`(?:[^`]|$)",
        ),
        "Unix command substitution (backticks)",
    ),
    r(
        932190,
        "rce",
        1,
        Critical,
        A | N | C | UA | CN | F,
        Cmd,
        // A command, or its argument, spelled with the shell's wildcards (`/???/??t
        // /???/p??s??`, `/b*n/c*t`, `c?t /etc/passwd`), where a command starts. A wildcard
        // is a `?` with more of the word after it, or a `*` beside a letter or digit: a
        // question that ends in `?`, `/images/*.png` and `/**/` comments are none. (CRS's
        // 932190 takes any wildcard anywhere, at paranoia 3.)
        Rx(concat!(
            command_start!(),
            r"(?:/[a-z0-9_.?*-]+/(?:[a-z0-9_.?*-]*/)*[a-z0-9_.?*-]*(?:\?[a-z0-9_.?*-]|[a-z0-9]\*|\*[a-z0-9])[a-z0-9_.?*-]*(?:/[a-z0-9_.?*-]+)*",
            r"|/[a-z0-9_.?*-]*(?:\?[a-z0-9_.?*-]|[a-z0-9]\*|\*[a-z0-9])[a-z0-9_.?*-]*(?:/[a-z0-9_.?*-]+)+)",
            r"(?:$|[ ;&|`)<>])",
            r"|",
            command_start!(),
            r"[a-z0-9]*(?:\?[a-z0-9_.?*-]|[a-z0-9]\*|\*[a-z0-9])[a-z0-9?*]*/[a-z0-9_.?*-]",
            // Or put together from variables: `;$X$Y` runs whatever they hold, `;$X` alone
            // once something assigned it (`;X=id;$X`, `$X/`), or a shell's own variable,
            // or with a wildcard path (`$x /???/p??s??`), and `${HOME:0:1}` cuts a `/` out
            // of one (black-box pass 12, B12-6). `;$a $b $c` is CRS's own negative
            // (spacers, no command); "Total;${price}", a JavaScript template's
            // `` `${base}/users` `` and `${PORT:-8080}`'s default value are none (pass 14,
            // B14-2).
            r"|",
            command_start!(),
            r"\$\{?[a-z_][a-z0-9_]*\}?(?:\$\{?[a-z_][a-z0-9_]*\}?)+(?:\s*$|\s*[;&|`)<>]|/|\s+/[a-z0-9_./-]*[?*]|\s+[0-9]?[<>])",
            r"|",
            command_start!(),
            r"\$\{?[a-z_][a-z0-9_]*\}?\s+/[a-z0-9_./-]*[?*]",
            r"|[a-z_][a-z0-9_]*(?:\[[^\]\s]*\])?\+?=[^;&|\n]*[;&|\n](?:[^;&|\n]*[;&|\n])*?\s*\$\{?[a-z_][a-z0-9_]*\}?(?:\s*$|\s*[;&|`)<>]|/|\s+[0-9]?[<>])",
            r"|[;&|\n`]\s*\$\{?(?:shell|bash)\}?(?:\s*$|\s*[;&|`)<>]|\s)",
            r"|\$\{[a-z_][a-z0-9_]*:(?: -|\(-)?[0-9]+\)?(?::-?[0-9]+)?\}",
            // Pass 13 (B13-9): where a command starts, an expansion with an operator, an
            // index or an indirection (`${X:-}`, `${X%%}`, `${X[0]}`, `${!Y}`, `${X,,}`),
            // or a positional parameter after `set` (`set -- id;$1`; `a;$3 b;$4` are prices,
            // CRS's negative 932236-104); a `/` cut from HOME, PATH
            // or PWD by any operator (`${HOME::1}`, `${PATH%%u*}`); and a backtick
            // substitution that prints the command (`` ;`echo id` ``).
            r"|",
            command_start!(),
            r"\$\{(?:![a-z_][a-z0-9_]*|[a-z_][a-z0-9_]*(?:\[[^\]]*\]|[:%#/^,@-][^}]*))\}(?:\s*$|\s*[;&|`)<>]|\s+\S)",
            r"|[!\x7c]?\$\{![a-z_][a-z0-9_]*\}",
            r#"|\bset\s[^;&|\n]*[;&|\n]\s*"?\$(?:[0-9@*]|\{[0-9@*]\})"#,
            r"|\$\{(?:home|path|pwd|oldpwd|shell|ifs|tmpdir)(?::-?[0-9]*:-?[0-9]+|::?-?[0-9]+|%%?[^}]*|##?[^}]*)\}",
            r#"|[;&|\n]\s*"?`\s*(?:echo|printf|tr|rev|base64|xxd)\b[^`]*`"#,
        )),
        "Unix command spelled with wildcards or variables",
    ),
    r(
        932160,
        "rce",
        1,
        Critical,
        A | N | C | UA | H | CN | F,
        Cmd,
        Rx(
            r"(?:^|[^\w.-])/(?:bin|sbin|usr/bin|usr/sbin|usr/local/bin|dev/(?:tcp|udp)|etc/init\.d)/\w",
        ),
        "Unix shell path",
    ),
    r(
        932110,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Cmd,
        Rx(
            r"\bcmd(?:\.exe)?/[ck]\b|\bpowershell(?:\.exe)?\b|\bpwsh\b|\bwmic\b|\bcertutil\b.{0,40}-urlcache|\bbitsadmin\b|\breg(?:\.exe)?\s+(?:add|query|delete)\b|\bnet\s+(?:user|localgroup)\b|\brundll32\b|\bregsvr32\b|\bmshta\b|\bcscript\b|\bwscript\b|\binvoke-(?:expression|webrequest|command)\b|\biex\s*\(|\bstart-process\b|-encodedcommand\b|\bdownloadstring\b",
        ),
        "Windows command injection",
    ),
    r(
        932170,
        "rce",
        1,
        Critical,
        A | N | C | UA | H | HN | B,
        Decoded,
        Rx(r"\(\s*\)\s*\{[^}]*;\s*\}"),
        "Shellshock (CVE-2014-6271)",
    ),
    r(
        932140,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Cmd,
        Rx(
            r"\bfor(?:/[dflr][^%]*)?\s*%+[^\s]+\s+in\s*\(.*\)\s*do\b|\bif(?:/i)?(?:\s+not)?(?:\s+(?:exist|errorlevel|defined|cmdextversion)\b|[\s(].*(?:\b(?:geq|gtr|equ|neq|leq|lss)\b|==))",
        ),
        "Windows command injection (FOR and IF)",
    ),
    r(
        932175,
        "rce",
        1,
        Critical,
        A | N | C | UA,
        Decoded,
        Rx(r"(?i)\balias\s+[\w.-]+\s*=|:\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}"),
        "Unix alias or fork bomb",
    ),
    r(
        932236,
        "rce",
        2,
        Critical,
        A | N | C,
        Cmd,
        Rx(concat!(
            r"(?:^|[;&|`\n\r(]|\$\(|\{)\s*(?:\$\w+\s+)*(?:time\s+|nohup\s+|sudo\s+|env\s+|nice\s+|timeout\s+\d+\s+)?",
            unix_commands!(),
            r"(?:\s|$|[;&|<>/`)])",
        )),
        "Unix or Windows command (no evasion)",
    ),
    // The User-Agent and Referer, as CRS's 932239: a client's own name starts the header
    // (curl/8, Wget/1.21, git/2.43, npm/10, and bare Ruby, node, python, java), so at the
    // start a command counts only when a space or a shell operator follows it; after a
    // separator, the end too; and the start alone only for commands no client is named.
    r(
        932239,
        "rce",
        2,
        Critical,
        UA,
        Cmd,
        Rx(concat!(
            r"(?:[;&|`\n\r(]|\$\(|\{)\s*(?:\$\w+\s+)*(?:time\s+|nohup\s+|sudo\s+|env\s+|nice\s+|timeout\s+\d+\s+)?",
            unix_commands!(),
            r"(?:[\s;&|<>`),]|$)",
            r"|^\s*(?:\$\w+\s+)*(?:time\s+|nohup\s+|sudo\s+|env\s+|nice\s+|timeout\s+\d+\s+)?",
            unix_commands!(),
            r"[\s;&|<>`),]",
            r"|^\s*(?:time\s+|nohup\s+|sudo\s+|env\s+)?(?:id|whoami|uname|ifconfig|ipconfig|netstat|visudo|chef-\w+|passwd|shutdown|reboot|printenv|hostname)$",
        )),
        "Unix or Windows command in the User-Agent or Referer (no evasion)",
    ),
    r(
        932150,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"(?:^|[\s;|&`(])/[\w.!/-]*[?*\[][\w?*\[\]!./-]*"),
        "Unix shell glob in a path",
    ),
    r(
        932300,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(
            r"(?i)[\r\n]\s*(?:(?:ehlo|helo|mail\s+from|rcpt\s+to|data|quit|rset|vrfy|expn|starttls|auth\s+\w+)\b|\w{1,10}\s+(?:examine|select|list|lsub|copy|fetch|store|login|logout|capability|noop|append|create|delete|rename|subscribe|status|search|uid|idle|authenticate)\b|(?:user|pass|stat|retr|dele|top|uidl|apop|list)\s+\S)",
        ),
        "SMTP, IMAP or POP3 command injection",
    ),
    r(
        932210,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"(?:^|[;\n])\s*\.(?:system|shell|import|output|once|load|open|read)\b"),
        "SQLite shell command injection",
    ),
    r(
        932280,
        "rce",
        2,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"\{\s*[^{}\s]*,[^{}\s]*,?[^{}]*\}"),
        "Shell brace expansion",
    ),
    r(
        932270,
        "rce",
        3,
        Critical,
        A | N | C,
        Decoded,
        Rx(r"^\s*(?:~[+-]?\d*|![-!]?\d*)(?:\s|$|!)|^!-\d+!-\d+"),
        "Shell tilde or history expansion",
    ),
    r(
        932200,
        "rce",
        2,
        Critical,
        A | N | C | UA,
        Lower,
        Rx(r"\b[a-z]+(?:\x22\x22|''|\\|\^)[a-z]+\b.{0,30}(?:/|\s-)|\$\{?ifs\}?|\$@[a-z]"),
        "Command obfuscation",
    ),
    r(
        932230,
        "rce",
        2,
        Critical,
        A | C,
        Cmd,
        Rx(
            r"^(?:cat|tac|ls|id|whoami|uname|wget|curl|nc|bash|sh|ping|nslookup|sleep|echo|python|perl|php|ruby|ifconfig|netstat|ps|pwd|env|dir|type|systeminfo|ver)(?:\s|$|/)",
        ),
        "Command at the start of a value",
    ),
];
