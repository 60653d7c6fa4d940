//! The exit statuses of interfaces.md, as a type: a command returns one, `main` exits with it.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; a check passed; an explained request is allowed.
    Success = 0,
    /// 1: the work failed or a check found problems (a denied step, an invalid policy, a
    /// loosening, a failed reconciliation).
    Problems = 1,
    /// 2: bad usage or unreadable input.
    Usage = 2,
    /// 3: the days are billed in the store but their `--out` files could not be written;
    /// running again writes them.
    FilesNotWritten = 3,
    /// 75 (sysexits' EX_TEMPFAIL): another process held the store for all of `--wait`;
    /// nothing was changed, try again later.
    Busy = 75,
}

impl Exit {
    /// 0 when `ok`, else 1: a check's verdict.
    pub fn verdict(ok: bool) -> Exit {
        if ok { Exit::Success } else { Exit::Problems }
    }

    /// The number the process exits with.
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}
