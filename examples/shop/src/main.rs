//! The shop service.
//!
//! ```text
//! cargo run -p shop                         # embedded SQLite (shop.db), sample products, http://127.0.0.1:8000/docs
//! DATABASE_URL=postgres://… cargo run -p shop
//! cargo run -p shop -- --help               # every setting, as a flag or an environment variable
//! cargo run -p shop -- migrate --dir examples/shop/migrations revision --autogenerate -m "…"
//! ```

use almacen::Database;
use almacen_web::accounts::{self, User};
use almacen_web::auth::TokenConfig;
use almacen_web::{Metrics, ServiceArgs, init_logging};
use clap::{ArgAction, Parser};
use rand::distr::{Alphanumeric, SampleString};
use shop::models::{NewProduct, Product, TABLES};
use std::process::ExitCode;

/// The example shop service of almacen-web: accounts with roles, products, orders.
///
/// Every setting is a flag or an environment variable (flags win). Secrets (the JWT secret,
/// the admin's password) are better given as environment variables: flags show in `ps`.
#[derive(Parser)]
#[command(name = "shop", version, after_help = "Schema migrations: shop migrate --help")]
struct Cli {
    /// The database: sqlite://file.db (embedded), postgres://…, mysql://… (MariaDB/MySQL).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://shop.db", hide_env_values = true, hide_default_value = false)]
    database_url: String,

    #[command(flatten)]
    service: ServiceArgs,

    /// The secret that signs access tokens (HS256), at least 32 bytes. Without it a random one
    /// is made at start, and tokens end with the process.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,

    /// The admin account's username, created at start with the `admin` role if missing.
    #[arg(long, env = "ADMIN_USERNAME", default_value = "admin")]
    admin_username: String,

    /// The admin account's password. Without it, a missing admin is created with a random
    /// password, printed once on standard output.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,

    /// Add sample products when there are none.
    #[arg(long, env = "SAMPLE_DATA", default_value_t = true, action = ArgAction::Set)]
    sample_data: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `shop migrate …` is almacen-migrate's command line over the shop's models.
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        return almacen_migrate::cli::run(TABLES).await;
    }
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.service.log_format) {
        eprintln!("shop: {e}");
        return ExitCode::from(2);
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shop: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let tokens = match &cli.jwt_secret {
        Some(secret) if secret.len() < 32 => return Err("JWT_SECRET must be at least 32 bytes".into()),
        Some(secret) => TokenConfig::hs256(secret.as_bytes()),
        None => {
            tracing::warn!("JWT_SECRET is not set: tokens are signed with a random secret and end with this process");
            TokenConfig::hs256(Alphanumeric.sample_string(&mut rand::rng(), 48).as_bytes())
        }
    };
    let db = Database::connect(&cli.database_url).await?;
    shop::app::migrate(&db).await?;
    seed_admin(&db, &cli).await?;
    if cli.sample_data {
        add_sample_products(&db).await?;
    }

    let app = shop::app::router(db.clone(), tokens);
    let app = cli.service.service_config().metrics(Metrics::new().database(&db)).apply(app);
    let listener = tokio::net::TcpListener::bind(cli.service.listen).await?;
    let address = listener.local_addr()?;
    println!("shop: listening on http://{address}; API docs at http://{address}/docs (ReDoc at /redoc)");
    almacen_web::serve(listener, app, cli.service.serve_options().database(db)).await?;
    Ok(())
}

/// The admin account: created with the configured password, or a random one printed once.
async fn seed_admin(db: &Database, cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let password = match &cli.admin_password {
        Some(p) => p.clone(),
        None => {
            let existing = User::select().filter(User::USERNAME.eq(cli.admin_username.as_str())).fetch_optional(db).await?;
            if let Some(user) = existing {
                // The name alone proves nothing: someone may have registered it while there
                // was no admin. Without ADMIN_PASSWORD there is nothing to verify against.
                let is_admin = User::ROLES.load_one(db, &user).await?.iter().any(|r| r.name == accounts::ADMIN_ROLE);
                if is_admin {
                    return Ok(());
                }
                return Err(format!(
                    "the user {:?} exists without the admin role, so the shop has no admin; set ADMIN_PASSWORD to that \
                     account's password to make it the admin, or ADMIN_USERNAME to another name",
                    cli.admin_username
                )
                .into());
            }
            // Letters and digits with at least one uppercase letter and one digit (the rule).
            let password = format!("A1{}", Alphanumeric.sample_string(&mut rand::rng(), 18));
            println!("shop: created the admin account {:?} with the password {password}", cli.admin_username);
            password
        }
    };
    accounts::ensure_admin(db, &cli.admin_username, &password).await.map_err(|e| e.detail().to_owned())?;
    Ok(())
}

/// A dozen products for a first look, when the catalogue is empty.
async fn add_sample_products(db: &Database) -> almacen::Result<()> {
    if Product::select().with_deleted().exists(db).await? {
        return Ok(());
    }
    let samples = [
        ("Desk lamp", "LAMP-001", Some("A lamp with a warm light."), 24.90, 40),
        ("Office chair", "CHAIR-002", Some("Adjustable height, mesh back."), 149.00, 12),
        ("Standing desk", "DESK-003", None, 399.00, 5),
        ("Notebook 100% recycled", "NOTE_100", Some("A5, dotted."), 4.50, 300),
        ("Fountain pen", "PEN-005", None, 32.00, 25),
        ("Monitor arm", "ARM-006", Some("For screens up to 32 inches."), 79.00, 18),
        ("USB-C hub", "HUB-007", None, 39.99, 60),
        ("Keyboard", "KEY-008", Some("Mechanical, quiet switches."), 89.00, 30),
        ("Mouse", "MOUSE-009", None, 29.00, 45),
        ("Webcam", "CAM-010", Some("1080p, privacy shutter."), 59.00, 20),
        ("Headphones", "HEAD-011", None, 129.00, 15),
        ("Cable ties (50)", "TIES-012", None, 3.20, 500),
    ];
    let rows = samples
        .into_iter()
        .map(|(name, sku, description, price, stock)| NewProduct {
            name: name.into(),
            sku: sku.into(),
            description: description.map(Into::into),
            price,
            stock,
        })
        .collect();
    Product::insert_many_without_returning(db, rows).await?;
    Ok(())
}
