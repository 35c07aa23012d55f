//! YAML and TOML as Helm's template functions read and write them.
