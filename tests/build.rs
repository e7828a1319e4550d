//! `containy build` end to end: a Containyfile on busybox (FROM, COPY, RUN, ENV, CMD …) builds an image that
//! runs; an unchanged rebuild runs no RUN step; COPY cannot leave the context; errors name file, line and
//! instruction. Each test has its own store and state root and checks nothing leaked.

mod common;
mod image_env;

use common::stderr;
use image_env::{Env, busybox_tarball};

fn setup(containyfile: &str) -> (Env, std::path::PathBuf) {
    let env = Env::new();
    let tarball = busybox_tarball(env.dir.path());
    env.ok(&["image", "import", "busybox", tarball.to_str().unwrap()]);
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("conf")).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello from the context\n").unwrap();
    std::fs::write(ctx.join("conf/app.conf"), "answer=42\n").unwrap();
    std::fs::write(ctx.join("Containyfile"), containyfile).unwrap();
    (env, ctx)
}

/// Did the RUN step's command run (its output line, not the step header that quotes it)?
fn ran(output: &str) -> bool {
    output.lines().any(|l| l == "ran-the-run-step")
}

const FILE: &str = r#"# a small image
FROM busybox
COPY hello.txt /srv/
COPY conf /etc/app/
RUN echo ran-the-run-step && \
    echo "built by RUN" > /srv/built && rm /etc/base-file
ENV GREETING="hi there" OTHER=2
WORKDIR /srv
LABEL purpose=test
CMD ["/bin/sh", "-c", "cat hello.txt built /etc/app/app.conf; echo $GREETING; pwd; ls /etc/base-file 2>&1 | grep -c 'No such'"]
"#;

#[test]
fn a_build_runs_as_the_file_says_and_an_unchanged_rebuild_runs_no_step() {
    require_root!();
    let (env, ctx) = setup(FILE);
    let first = env.ok(&["build", "-t", "app:1", ctx.to_str().unwrap()]);
    assert!(first.contains("STEP 1/8: FROM busybox") && ran(&first), "{first}");
    let out = env.ok(&["run", "--image", "app:1"]);
    assert_eq!(out, "hello from the context\nbuilt by RUN\nanswer=42\nhi there\n/srv\n1\n");
    // The command line overrides the image's config.
    let script = "echo $GREETING $OTHER; pwd; id -u; id -g";
    let args = ["run", "--image", "app:1", "--env", "GREETING=over", "--workdir", "/etc", "--user", "1000:7"];
    let out = env.ok(&[&args[..], &["--", "/bin/sh", "-c", script]].concat());
    assert_eq!(out, "over 2\n/etc\n1000\n7\n");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "app:1"])).unwrap();
    assert_eq!(inspect["config"]["Labels"]["purpose"], "test");
    assert_eq!(inspect["layers"].as_array().unwrap().len(), 4, "busybox + 2 COPY + 1 RUN");

    // Nothing changed: every layer step comes from the cache, the RUN command does not run.
    let layers = env.layers();
    let second = env.ok(&["build", "-t", "app:1", ctx.to_str().unwrap()]);
    assert!(!ran(&second), "{second}");
    assert_eq!(second.matches("using cache").count(), 3, "{second}");
    assert_eq!(env.layers(), layers);
    assert_eq!(second.lines().last(), first.lines().last(), "the same image id");

    // A changed COPY source invalidates that step and every one after it.
    std::fs::write(ctx.join("conf/app.conf"), "answer=43\n").unwrap();
    let third = env.ok(&["build", "-t", "app:2", ctx.to_str().unwrap()]);
    assert_eq!(third.matches("using cache").count(), 1, "{third}");
    assert!(ran(&third), "{third}");
    assert!(env.ok(&["run", "--image", "app:2"]).contains("answer=43"));
    // --no-cache runs everything again.
    let fourth = env.ok(&["build", "--no-cache", "-t", "app:3", ctx.to_str().unwrap()]);
    assert!(!fourth.contains("using cache") && ran(&fourth), "{fourth}");
    env.assert_consistent();
}

#[test]
fn copy_cannot_take_files_from_outside_the_context() {
    require_root!();
    let (env, ctx) = setup("FROM busybox\nCOPY ../secret /x\n");
    std::fs::write(env.dir.path().join("secret"), "host secret").unwrap();
    let (out, pid) = env.run(&["build", "-t", "bad", ctx.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Containyfile:2: COPY") && err.contains("outside the build context"), "{err}");

    // Through a symlink in the context: refused too.
    std::os::unix::fs::symlink(env.dir.path(), ctx.join("escape")).unwrap();
    std::fs::write(ctx.join("Containyfile"), "FROM busybox\nRUN true\nCOPY escape/secret /x\n").unwrap();
    let (out, pid2) = env.run(&["build", "-t", "bad", ctx.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains("Containyfile:3: COPY") && err.contains("outside the build context"), "{err}");
    assert!(env.ok(&["image", "ls", "--json"]).contains("busybox") && !env.ok(&["image", "ls"]).contains("bad"));
    env.assert_no_leaks(pid);
    env.assert_no_leaks(pid2);
}

#[test]
fn errors_name_the_file_line_and_instruction() {
    require_root!();
    let (env, ctx) = setup("FROM busybox\n\n# comment\nRUN exit 3\nCMD true\n");
    let (out, pid) = env.run(&["build", "-t", "fails", ctx.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("Containyfile:4: RUN") && err.contains("exited with 3"), "{err}");
    env.assert_no_leaks(pid);

    std::fs::write(ctx.join("Containyfile"), "FROM busybox\nFETCH x\n").unwrap();
    let (out, _) = env.run(&["build", "-t", "fails", ctx.to_str().unwrap()]);
    assert!(stderr(&out).contains("Containyfile:2: FETCH: unknown instruction"), "{}", stderr(&out));

    std::fs::write(ctx.join("Containyfile"), "FROM nosuchimage\n").unwrap();
    let (out, _) = env.run(&["build", "-t", "fails", ctx.to_str().unwrap()]);
    assert!(stderr(&out).contains("Containyfile:1: FROM") && stderr(&out).contains("nosuchimage"), "{}", stderr(&out));
}

#[test]
fn from_scratch_with_copy_makes_an_image_of_just_those_files() {
    require_root!();
    let (env, ctx) = setup("");
    std::fs::create_dir_all(ctx.join("root/bin")).unwrap();
    std::fs::copy(common::busybox_rootfs().join("bin/busybox"), ctx.join("root/bin/busybox")).unwrap();
    std::fs::write(
        ctx.join("Containyfile"),
        "FROM scratch\nCOPY root /\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"echo\", \"scratch ok\"]\n",
    )
    .unwrap();
    env.ok(&["build", "-t", "tiny", ctx.to_str().unwrap()]);
    assert_eq!(env.ok(&["run", "--image", "tiny"]), "scratch ok\n");
    // The command after -- replaces CMD; the ENTRYPOINT stays.
    assert_eq!(env.ok(&["run", "--image", "tiny", "--", "echo", "replaced"]), "replaced\n");

    // A destination that is a directory in the image (here through a symlink of the image) is copied into.
    std::fs::write(
        ctx.join("Containyfile"),
        "FROM tiny\nRUN [\"/bin/busybox\", \"ln\", \"-s\", \"bin\", \"/b\"]\nCOPY hello.txt /b\n",
    )
    .unwrap();
    env.ok(&["build", "-t", "tiny2", ctx.to_str().unwrap()]);
    assert_eq!(env.ok(&["run", "--image", "tiny2", "--", "cat", "/bin/hello.txt"]), "hello from the context\n");
}

#[test]
fn an_image_with_more_layers_than_a_page_of_mount_options_holds_still_runs() {
    require_root!();
    // ~100 bytes per layer path in a temp dir store: 48 layers overflow overlay's one-page option string, so
    // the layers are named relative to the store (for RUN's container and for COPY's mount alike).
    let mut file = String::from("FROM busybox\n");
    for i in 0..47 {
        file.push_str(&format!("RUN echo {i} > /layer{i}\n"));
    }
    file.push_str("COPY hello.txt /\nCMD [\"/bin/sh\", \"-c\", \"cat /layer0 /layer46 /hello.txt\"]\n");
    let (env, ctx) = setup(&file);
    env.ok(&["build", "-t", "tall", ctx.to_str().unwrap()]);
    assert_eq!(env.ok(&["run", "--image", "tall"]), "0\n46\nhello from the context\n");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["image", "inspect", "tall"])).unwrap();
    let lowers = inspect["lowerdirs"].as_array().unwrap();
    let joined: usize = lowers.iter().map(|l| l.as_str().unwrap().len() + 1).sum();
    assert!(lowers.len() == 49 && joined > 4096, "{} layers, {joined} bytes", lowers.len());
}
