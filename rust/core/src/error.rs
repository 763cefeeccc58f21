//! The one error type of the core. `Display` prints the house message template
//! (shared/CONVENTIONS.md §1), so the bindings pass the sentence through unchanged.

use std::fmt;

/// Every way a core call can refuse its input. A call that returns an error changed nothing,
/// except [`CoreError::Interrupted`].
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// A scalar or configuration value is outside its allowed set.
    InvalidParameter {
        /// Parameter name, as the caller spells it.
        name: String,
        /// The function or class that owns the parameter.
        owner: String,
        /// The allowed set, in words ("a float in the range (0, inf)").
        allowed: String,
        /// The value received, already formatted.
        value: String,
    },
    /// An array has the wrong shape.
    Shape {
        /// Parameter name.
        name: String,
        /// Owner.
        owner: String,
        /// Expected shape, formatted.
        expected: String,
        /// Shape received, formatted.
        got: String,
    },
    /// An array or scalar holds NaN or infinity.
    NonFinite {
        /// Parameter name.
        name: String,
        /// Owner.
        owner: String,
    },
    /// A long kernel stopped between two chunks because its caller asked (Ctrl-C). Unlike
    /// the other variants the tile *has* changed: it holds the whole pulses fired before the
    /// stop, with counters equal to them (every chunk boundary is a valid state).
    Interrupted {
        /// The interrupted call.
        owner: String,
    },
}

impl CoreError {
    /// Builds an [`CoreError::InvalidParameter`].
    pub fn param(
        name: &str,
        owner: &str,
        allowed: impl Into<String>,
        value: impl fmt::Debug,
    ) -> Self {
        CoreError::InvalidParameter {
            name: name.to_owned(),
            owner: owner.to_owned(),
            allowed: allowed.into(),
            value: format!("{value:?}"),
        }
    }

    /// Builds a [`CoreError::Shape`] from two shapes.
    pub fn shape(name: &str, owner: &str, expected: &[usize], got: &[usize]) -> Self {
        CoreError::Shape {
            name: name.to_owned(),
            owner: owner.to_owned(),
            expected: fmt_shape(expected),
            got: fmt_shape(got),
        }
    }

    /// Builds a [`CoreError::NonFinite`].
    pub fn non_finite(name: &str, owner: &str) -> Self {
        CoreError::NonFinite {
            name: name.to_owned(),
            owner: owner.to_owned(),
        }
    }
}

/// Formats a shape as Python prints a tuple: `(3,)`, `(2, 4)`.
pub fn fmt_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidParameter {
                name,
                owner,
                allowed,
                value,
            } => {
                write!(
                    f,
                    "The '{name}' parameter of {owner} must be {allowed}. Got {value} instead."
                )
            }
            CoreError::Shape {
                name,
                owner,
                expected,
                got,
            } => write!(
                f,
                "The '{name}' parameter of {owner} must be an array of shape {expected}. \
                 Got an array of shape {got} instead."
            ),
            CoreError::NonFinite { name, owner } => write!(
                f,
                "The '{name}' parameter of {owner} must be finite (no NaN or inf). \
                 Got a value with NaN or inf instead."
            ),
            CoreError::Interrupted { owner } => write!(
                f,
                "{owner} was interrupted; the tile keeps the whole pulses applied before the \
                 interrupt, with counters equal to them."
            ),
        }
    }
}

impl std::error::Error for CoreError {}
