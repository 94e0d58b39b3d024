//! Library errors: every variant names the field, index or point at fault.

use thiserror::Error;

/// Everything that can go wrong in quasipot's library code.
///
/// Not converging is *not* an error: engines report it as a termination reason.
#[non_exhaustive]
#[derive(Debug, Error)]
pub enum Error {
    /// Input that is malformed or inconsistent; `field` names where it was found.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, flag or file at fault (e.g. `noise.matrix`, `--eps`).
        field: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A matrix that had to be symmetric positive definite is not.
    #[error("{field}: matrix is not symmetric positive definite ({detail})")]
    NotPositiveDefinite {
        /// Where the matrix came from.
        field: String,
        /// The offending eigenvalue or asymmetry.
        detail: String,
    },
    /// A numerical breakdown that is not the user's fault in an obvious way.
    #[error("numerical failure in {context}: {message}")]
    Numerical {
        /// Algorithm that broke down.
        context: String,
        /// Why.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The requested method does not apply to this problem.
    #[error("{0}")]
    Unsupported(String),
    /// An engine produced a non-finite result (NaN or ±∞): never reported as a value.
    #[error("{engine}: {quantity} is not finite ({value}): {cause}")]
    NonFinite {
        /// The engine (exact, gmam, olim, generator, prefactor).
        engine: String,
        /// What overflowed (V0, the exit point, E[τ]).
        quantity: String,
        /// The value as computed.
        value: String,
        /// The likely cause and what to change.
        cause: String,
    },
    /// Stopped by the caller (Ctrl-C, or a front-end's progress callback).
    #[error("interrupted")]
    Interrupted,
}

/// Shorthand for `Result<T, quasipot::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Build an [`Error::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    /// Build an [`Error::Numerical`].
    pub fn numerical(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Numerical {
            context: context.into(),
            message: message.into(),
        }
    }
}
