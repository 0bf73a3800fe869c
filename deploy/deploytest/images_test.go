package deploytest

import (
	"fmt"
	"regexp"
	"strings"
)

// A pinned tag starts with a full version, major.minor.patch (optionally
// v-prefixed, optionally with a suffix such as -alpine or .29): a series tag
// such as 26.8 or 4 moves with every release, latest with every build.
var pinnedTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([.+-][0-9A-Za-z.+-]*)?$`)

var digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// imageRef splits an image reference into repository, tag and digest.
func imageRef(ref string) (repo, tag, dig string) {
	repo, dig, _ = strings.Cut(ref, "@")
	// The tag follows the last colon after the last slash (a registry may
	// have a port: host:5000/name:tag).
	slash := strings.LastIndex(repo, "/")
	if colon := strings.LastIndex(repo, ":"); colon > slash {
		repo, tag = repo[:colon], repo[colon+1:]
	}
	return repo, tag, dig
}

// checkPinned reports why ref is not pinned to a version, or nil.
func checkPinned(ref string) error {
	if ref == "" {
		return fmt.Errorf("no image")
	}
	if strings.Contains(ref, "$") {
		return fmt.Errorf("image %q: a variable can unpin it", ref)
	}
	_, tag, dig := imageRef(ref)
	if dig != "" && !digest.MatchString(dig) {
		return fmt.Errorf("image %q: malformed digest", ref)
	}
	switch {
	case tag == "" && dig == "":
		return fmt.Errorf("image %q: no tag (that is latest)", ref)
	case tag == "latest":
		return fmt.Errorf("image %q: latest is not a version", ref)
	case tag != "" && !pinnedTag.MatchString(tag) && dig == "":
		return fmt.Errorf("image %q: tag %q is not a full version (major.minor.patch)", ref, tag)
	}
	return nil
}
