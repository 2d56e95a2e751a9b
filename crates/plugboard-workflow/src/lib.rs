//! The plugboard workflow language.
