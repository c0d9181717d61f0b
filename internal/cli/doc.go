// Package cli holds gitsync's commands: for each, one flags struct, its
// translation into the library's typed options, the library call and a
// printer. It owns exit codes and signal handling; it holds no sync logic.
package cli
