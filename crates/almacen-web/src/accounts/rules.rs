//! The input rules of accounts (the shop's contract by default): username, e-mail and
//! password checks whose errors name the field and never quote the value.

use crate::ApiError;
use axum::http::StatusCode;

/// The rules a new account must meet. [`Default`] is the shop's contract: usernames of
/// 3–50 ASCII letters, digits, `_`, `.` or `-`; a valid e-mail of at most 254 characters;
/// passwords of 8–128 characters with at least one uppercase letter and one digit.
///
/// ```
/// let rules = almacen_web::accounts::AccountRules::default();
/// assert!(rules.check("ana_1", "ana@example.com", "Secret123").is_ok());
/// let e = rules.check("a", "nope", "short").unwrap_err();
/// let fields: Vec<_> = e.errors().iter().map(|e| e.field.as_deref().unwrap()).collect();
/// assert_eq!(fields, ["username", "email", "password"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRules {
    /// Shortest username, in characters.
    pub username_min: usize,
    /// Longest username, in characters (at most 50: the column's length).
    pub username_max: usize,
    /// Shortest password, in characters.
    pub password_min: usize,
    /// Longest password, in characters.
    pub password_max: usize,
    /// Whether a password needs an uppercase letter.
    pub password_needs_uppercase: bool,
    /// Whether a password needs a digit.
    pub password_needs_digit: bool,
}

impl Default for AccountRules {
    fn default() -> Self {
        AccountRules {
            username_min: 3,
            username_max: 50,
            password_min: 8,
            password_max: 128,
            password_needs_uppercase: true,
            password_needs_digit: true,
        }
    }
}

/// The longest e-mail address accepted (RFC 5321's path limit less the brackets).
///
/// ```
/// assert_eq!(almacen_web::accounts::EMAIL_MAX_LEN, 254);
/// ```
pub const EMAIL_MAX_LEN: usize = 254;

impl AccountRules {
    /// Check a registration's fields; a 422 in the envelope naming every field at fault
    /// (`too_short`, `too_long`, `pattern`, `email`, `password_strength`). Messages never
    /// contain the values.
    ///
    /// ```
    /// let e = almacen_web::accounts::AccountRules::default().check("ana", "ana@example.com", "alllowercase1").unwrap_err();
    /// assert_eq!(e.errors()[0].kind, "password_strength");
    /// assert!(!e.errors()[0].message.contains("alllowercase1"));
    /// ```
    pub fn check(&self, username: &str, email: &str, password: &str) -> Result<(), ApiError> {
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input");
        if let Some((message, kind)) = self.username_problem(username) {
            err = err.with_error(Some("username"), message, kind);
        }
        if let Some((message, kind)) = email_problem(email) {
            err = err.with_error(Some("email"), message, kind);
        }
        if let Some((message, kind)) = self.password_problem(password) {
            err = err.with_error(Some("password"), message, kind);
        }
        if err.errors().is_empty() { Ok(()) } else { Err(err) }
    }

    fn username_problem(&self, username: &str) -> Option<(String, &'static str)> {
        let n = username.chars().count();
        if n < self.username_min {
            return Some((format!("must be at least {} characters", self.username_min), "too_short"));
        }
        if n > self.username_max {
            return Some((format!("must be at most {} characters", self.username_max), "too_long"));
        }
        if !username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Some(("may contain only letters, digits, '_', '.' and '-'".into(), "pattern"));
        }
        None
    }

    fn password_problem(&self, password: &str) -> Option<(String, &'static str)> {
        let n = password.chars().count();
        if n < self.password_min {
            return Some((format!("must be at least {} characters", self.password_min), "too_short"));
        }
        if n > self.password_max {
            return Some((format!("must be at most {} characters", self.password_max), "too_long"));
        }
        let upper = !self.password_needs_uppercase || password.chars().any(char::is_uppercase);
        let digit = !self.password_needs_digit || password.chars().any(|c| c.is_ascii_digit());
        match (upper, digit) {
            (true, true) => None,
            (false, true) => Some(("must contain at least one uppercase letter".into(), "password_strength")),
            (true, false) => Some(("must contain at least one digit".into(), "password_strength")),
            (false, false) => Some(("must contain at least one uppercase letter and one digit".into(), "password_strength")),
        }
    }
}

/// Why `email` is not an acceptable address, if it is not: one `@`, a non-empty local
/// part of printable ASCII without spaces, and a domain of dot-separated labels (letters,
/// digits, `-`, not at a label's ends) with at least one dot.
fn email_problem(email: &str) -> Option<(String, &'static str)> {
    if email.len() > EMAIL_MAX_LEN {
        return Some((format!("must be at most {EMAIL_MAX_LEN} characters"), "too_long"));
    }
    let bad = || Some(("must be a valid e-mail address".to_string(), "email"));
    let Some((local, domain)) = email.split_once('@') else { return bad() };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return bad();
    }
    let local_ok =
        local.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')' | '<' | '>' | ',' | ';' | ':' | '\\' | '"' | '[' | ']'))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok { None } else { bad() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@mail.example.org", "x_y-z@sub-domain.example.com"] {
            assert!(email_problem(good).is_none(), "{good}");
        }
        for bad in ["", "a", "a@", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@b..co", "a@-b.co", ".a@b.co", "a@b.co.", "a@b_c.co"] {
            assert!(email_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_passwords() {
        let r = AccountRules::default();
        assert!(r.username_problem("ab").is_some());
        assert!(r.username_problem(&"a".repeat(51)).is_some());
        assert!(r.username_problem(&"a".repeat(50)).is_none());
        assert!(r.username_problem("ana maria").is_some());
        assert!(r.username_problem("ana.maria-x_1").is_none());
        assert!(r.password_problem("Short1").is_some());
        assert!(r.password_problem("Abcdefg1").is_none());
        assert!(r.password_problem(&format!("A1{}", "x".repeat(127))).is_some());
        assert!(r.password_problem("abcdefg1").is_some());
        assert!(r.password_problem("Abcdefgh").is_some());
    }
}
