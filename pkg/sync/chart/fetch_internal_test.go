package chart

import "testing"

func TestCredentialsStayOnTheRepositorysHost(t *testing.T) {
	for _, tc := range []struct {
		archive string
		same    bool
	}{
		{"https://charts.example/app-1.0.0.tgz", true},
		{"https://charts.example/sub/app-1.0.0.tgz", true},
		{"https://cdn.example/app-1.0.0.tgz", false},
		{"http://charts.example/app-1.0.0.tgz", false},
		{"https://charts.example:8443/app-1.0.0.tgz", false},
	} {
		if got := sameHost("https://charts.example/", tc.archive); got != tc.same {
			t.Errorf("sameHost(repository, %s) = %t, want %t", tc.archive, got, tc.same)
		}
	}
}

func TestChooseAVersion(t *testing.T) {
	versions := []string{"2.0.0", "1.1.0", "1.0.0", "1.2.0-rc.1", "not-semver"}
	for _, tc := range []struct{ constraint, want string }{
		{"", "2.0.0"},
		{">=1.0.0 <2", "1.1.0"},
		{"~1.0", "1.0.0"},
		{"1.2.0-rc.1", "1.2.0-rc.1"},
		{"not-semver", "not-semver"},
	} {
		i, err := choose(versions, tc.constraint)
		if err != nil || versions[i] != tc.want {
			t.Errorf("choose(%q) = %v, %v; want %s", tc.constraint, i, err, tc.want)
		}
	}
	if _, err := choose(versions, "3.x"); err == nil || err.Error() != `no version matches "3.x" (it has 2.0.0, 1.1.0, 1.0.0, 1.2.0-rc.1, not-semver)` {
		t.Errorf("choose(3.x): %v", err)
	}
}
