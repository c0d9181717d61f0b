// Package charts gives tests Helm charts and the servers that hand them out the
// way real chart repositories do: the charts this repository makes for testing
// (App, Big, under testdata/), packaged exactly as `helm package` packages them
// (Package), served by a classic HTTP chart repository with an index.yaml and
// optional basic auth (StartRepo), and pushed as Helm pushes them to an OCI
// registry (StartRegistry). Both servers listen on 127.0.0.1 and stop when the
// test ends; both use Helm's and go-containerregistry's Go code, never a CLI.
//
// Its own tests check every format against the real helm CLI.
package charts
