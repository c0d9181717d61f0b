// Package config is gitsync's stand-in for SOPS's package of the same name
// (see third_party/README.md): of the .sops.yaml configuration, the stores
// need only their own settings.
package config

// DotenvStoreConfig configures the dotenv store.
type DotenvStoreConfig struct{}

// JSONStoreConfig configures the JSON store.
type JSONStoreConfig struct {
	Indent int `yaml:"indent"`
}

// JSONBinaryStoreConfig configures the binary store.
type JSONBinaryStoreConfig struct {
	Indent int `yaml:"indent"`
}

// YAMLStoreConfig configures the YAML store.
type YAMLStoreConfig struct {
	Indent int `yaml:"indent"`
}
