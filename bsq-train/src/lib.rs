//! BSQ trainer (work in progress).
