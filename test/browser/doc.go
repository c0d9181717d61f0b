// Package browser drives a real headless Chromium for end-to-end tests of web
// pages served on 127.0.0.1: New starts one browser per test, Navigate and Text
// read the page, Axe checks its accessibility with an embedded axe-core, and
// Screenshot saves the page as a PNG.
//
// The browser reaches 127.0.0.1 only: every other host, localhost included,
// fails to resolve, and Chromium's own background traffic is switched off. The
// package fakes nothing and never skips: without Chromium a test fails with
// the command that installs it. It is the one package that imports chromedp; a
// test that needs more than these helpers can run chromedp actions on the
// context New returns.
package browser
