//! YAML as Helm's template functions read and write it.
