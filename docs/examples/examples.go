// Package examples holds the commented example files the documentation
// ships, embedded so that a command can start from one without a path: the
// demo maps its simulated HL7 v2 and FHIR feeds with SiteConfig.
package examples

import _ "embed"

// SiteConfig is site-config.yaml, the example site config.
//
//go:embed site-config.yaml
var SiteConfig []byte
