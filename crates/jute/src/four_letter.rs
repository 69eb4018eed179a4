//! Four-letter words: operator commands that arrive as the first four bytes of a
//! connection in place of a frame length.

/// An operator command ZooKeeper answers on the client port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourLetterWord {
    /// `ruok`: "imok" if the server is running.
    Ruok,
    /// `srvr`: server details.
    Srvr,
    /// `stat`: server details and connections.
    Stat,
    /// `mntr`: metrics, one `key\tvalue` per line.
    Mntr,
    /// `conf`: configuration.
    Conf,
    /// `cons`: connection details.
    Cons,
    /// `crst`: reset connection statistics.
    Crst,
    /// `srst`: reset server statistics.
    Srst,
    /// `envi`: environment.
    Envi,
    /// `wchs`: watch summary.
    Wchs,
    /// `wchc`: watches by session.
    Wchc,
    /// `wchp`: watches by path.
    Wchp,
    /// `dump`: sessions and ephemerals.
    Dump,
    /// `isro`: "ro" or "rw".
    Isro,
    /// `dirs`: data directory sizes.
    Dirs,
    /// `gtmk`: get the trace mask.
    Gtmk,
    /// `stmk`: set the trace mask.
    Stmk,
}

impl FourLetterWord {
    /// Every command.
    pub const ALL: &'static [FourLetterWord] = &[
        FourLetterWord::Ruok,
        FourLetterWord::Srvr,
        FourLetterWord::Stat,
        FourLetterWord::Mntr,
        FourLetterWord::Conf,
        FourLetterWord::Cons,
        FourLetterWord::Crst,
        FourLetterWord::Srst,
        FourLetterWord::Envi,
        FourLetterWord::Wchs,
        FourLetterWord::Wchc,
        FourLetterWord::Wchp,
        FourLetterWord::Dump,
        FourLetterWord::Isro,
        FourLetterWord::Dirs,
        FourLetterWord::Gtmk,
        FourLetterWord::Stmk,
    ];

    /// The command's four ASCII letters.
    pub fn as_str(self) -> &'static str {
        match self {
            FourLetterWord::Ruok => "ruok",
            FourLetterWord::Srvr => "srvr",
            FourLetterWord::Stat => "stat",
            FourLetterWord::Mntr => "mntr",
            FourLetterWord::Conf => "conf",
            FourLetterWord::Cons => "cons",
            FourLetterWord::Crst => "crst",
            FourLetterWord::Srst => "srst",
            FourLetterWord::Envi => "envi",
            FourLetterWord::Wchs => "wchs",
            FourLetterWord::Wchc => "wchc",
            FourLetterWord::Wchp => "wchp",
            FourLetterWord::Dump => "dump",
            FourLetterWord::Isro => "isro",
            FourLetterWord::Dirs => "dirs",
            FourLetterWord::Gtmk => "gtmk",
            FourLetterWord::Stmk => "stmk",
        }
    }

    /// The command spelled by these four bytes, if any. ZooKeeper compares the bytes
    /// as a big-endian int against its table, so the match is exact and case-sensitive.
    pub fn from_bytes(bytes: [u8; 4]) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|word| word.as_str().as_bytes() == bytes)
    }

    /// The command with this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|word| word.as_str() == name)
    }
}
