//! The shop service's binary: a stub until the service is wired (products, plumbing, docs).

fn main() {
    eprintln!("shop: the service is not wired yet; see examples/shop/src/lib.rs for what exists");
}
