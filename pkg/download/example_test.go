package download_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/gitsync-io/gitsync/pkg/download"
)

// A caller looks in its cache, downloads what it lacks within its limits, checks what it
// got (here against a checksum it knows), and keeps it.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "release") }))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "cache")
	defer os.RemoveAll(dir)

	url, want := srv.URL+"/v1.0.0/app.tar.gz", download.SHA256([]byte("release"))
	cache := download.Cache{Dir: dir}
	data, ok := cache.Get(url)
	if !ok {
		var err error
		if data, err = download.Get(context.Background(), url, download.Options{MaxBytes: 1 << 20}); err != nil {
			fmt.Println(err)
			return
		}
		if download.SHA256(data) != want {
			fmt.Println("checksum mismatch")
			return
		}
		_ = cache.Put(url, data)
	}
	again, ok := cache.Get(url)
	fmt.Println(string(data), string(again), ok)
	// Output: release release true
}
