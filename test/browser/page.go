package browser

import (
	"context"
	"fmt"

	"github.com/chromedp/chromedp"
)

// Navigate loads url in the browser's tab and waits for its load event.
func Navigate(ctx context.Context, url string) error {
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("navigate %s: %w", url, err)
	}
	return nil
}

// Text is the rendered text of the first element that matches the CSS
// selector, as innerText gives it. It waits for such an element to appear.
func Text(ctx context.Context, selector string) (string, error) {
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		return "", fmt.Errorf("text of %s: %w", selector, err)
	}
	return s, nil
}
