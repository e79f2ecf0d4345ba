//! `ServiceArgs` from flags and environment variables: defaults, values, and errors that
//! name the flag and the variable.

use almacen_web::{LogFormat, ServiceArgs};
use clap::Parser;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "shop")]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

const VARS: [&str; 7] =
    ["LISTEN_ADDR", "CORS_ORIGINS", "REQUEST_TIMEOUT", "BODY_LIMIT", "COMPRESSION_MIN_SIZE", "LOG_FORMAT", "SHUTDOWN_TIMEOUT"];

/// The environment is process-wide: one test sets it, the others only pass flags and run
/// after it has cleaned up (all in this one test, in order).
#[test]
fn flags_env_defaults_and_errors() {
    for v in VARS {
        // SAFETY: the only test in this binary touching the environment; the others read none.
        unsafe { std::env::remove_var(v) };
    }
    let d = Cli::try_parse_from(["shop"]).unwrap().service;
    assert_eq!(d.listen.to_string(), "127.0.0.1:8000");
    assert!(d.cors_origins.is_empty());
    assert_eq!(d.request_timeout, Duration::from_secs(30));
    assert_eq!(d.body_limit, 2 * 1024 * 1024);
    assert_eq!(d.compression_min_size, 1024);
    assert_eq!(d.log_format, LogFormat::Text);
    assert_eq!(d.shutdown_timeout, Duration::from_secs(30));

    let f = Cli::try_parse_from([
        "shop",
        "--listen",
        "0.0.0.0:9000",
        "--cors-origins",
        "https://a.example.com,http://localhost:5173/",
        "--request-timeout",
        "500ms",
        "--body-limit",
        "64KiB",
        "--log-format",
        "json",
        "--shutdown-timeout",
        "2m",
    ])
    .unwrap()
    .service;
    assert_eq!(f.listen.port(), 9000);
    assert_eq!(f.cors_origins, ["https://a.example.com", "http://localhost:5173"]);
    assert_eq!(f.request_timeout, Duration::from_millis(500));
    assert_eq!(f.body_limit, 64 * 1024);
    assert_eq!(f.log_format, LogFormat::Json);
    assert_eq!(f.shutdown_timeout, Duration::from_secs(120));
    let _config = f.service_config();

    // From the environment.
    let set = |k: &str, v: &str| unsafe { std::env::set_var(k, v) };
    set("LISTEN_ADDR", "127.0.0.1:7000");
    set("CORS_ORIGINS", "https://shop.example.com");
    set("REQUEST_TIMEOUT", "5s");
    set("BODY_LIMIT", "1MB");
    set("LOG_FORMAT", "json");
    set("SHUTDOWN_TIMEOUT", "10");
    let e = Cli::try_parse_from(["shop"]).unwrap().service;
    assert_eq!(e.listen.port(), 7000);
    assert_eq!(e.cors_origins, ["https://shop.example.com"]);
    assert_eq!(e.request_timeout, Duration::from_secs(5));
    assert_eq!(e.body_limit, 1_000_000);
    assert_eq!(e.log_format, LogFormat::Json);
    assert_eq!(e.shutdown_timeout, Duration::from_secs(10));
    // A flag wins over the variable.
    assert_eq!(Cli::try_parse_from(["shop", "--request-timeout", "1s"]).unwrap().service.request_timeout, Duration::from_secs(1));

    // Bad values from the environment name the variable.
    for (var, bad) in [
        ("REQUEST_TIMEOUT", "soon"),
        ("SHUTDOWN_TIMEOUT", "10 parsecs"),
        ("BODY_LIMIT", "huge"),
        ("LOG_FORMAT", "xml"),
        ("LISTEN_ADDR", "localhost"),
        ("CORS_ORIGINS", "not an origin"),
        ("COMPRESSION_MIN_SIZE", "1GiB"),
    ] {
        let old = std::env::var(var).ok();
        set(var, bad);
        let err = Cli::try_parse_from(["shop"]).unwrap_err().to_string();
        assert!(err.contains(var), "{var}={bad}: {err}");
        assert!(err.contains(bad), "{var}={bad}: {err}");
        match old {
            Some(v) => set(var, &v),
            None => unsafe { std::env::remove_var(var) },
        }
    }
    for v in VARS {
        unsafe { std::env::remove_var(v) };
    }

    // Bad flags name the flag.
    for (flag, bad) in [("--request-timeout", "forever"), ("--body-limit", "2 lots"), ("--log-format", "yaml"), ("--listen", ":x")] {
        let err = Cli::try_parse_from(["shop", flag, bad]).unwrap_err().to_string();
        assert!(err.contains(flag), "{flag} {bad}: {err}");
    }

    // --help lists every flag and variable.
    let help = Cli::try_parse_from(["shop", "--help"]).unwrap_err().to_string();
    for (flag, var) in [
        ("--listen", "LISTEN_ADDR"),
        ("--cors-origins", "CORS_ORIGINS"),
        ("--request-timeout", "REQUEST_TIMEOUT"),
        ("--body-limit", "BODY_LIMIT"),
        ("--log-format", "LOG_FORMAT"),
        ("--shutdown-timeout", "SHUTDOWN_TIMEOUT"),
    ] {
        assert!(help.contains(flag) && help.contains(var), "{flag} {var}:\n{help}");
    }
}

/// A request timeout of 0 would let a request wait for ever on a frozen database: refused,
/// naming the flag and the variable. A shutdown timeout of 0 is still a bound (503 at once).
#[test]
fn zero_request_timeout_is_refused() {
    let err = Cli::try_parse_from(["shop", "--request-timeout", "0"]).unwrap_err().to_string();
    assert!(err.contains("--request-timeout") && err.contains("REQUEST_TIMEOUT"), "{err}");
    assert!(err.contains("more than 0"), "{err}");
    let err = Cli::try_parse_from(["shop", "--request-timeout", "0ms"]).unwrap_err().to_string();
    assert!(err.contains("REQUEST_TIMEOUT"), "{err}");
    let ok = Cli::try_parse_from(["shop", "--request-timeout", "1ms", "--shutdown-timeout", "0"]).unwrap();
    assert_eq!(ok.service.request_timeout, Duration::from_millis(1));
    assert_eq!(ok.service.shutdown_timeout, Duration::ZERO);
}
