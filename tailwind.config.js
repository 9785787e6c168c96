/** Tailwind for Natter: scans the views (templ, and Go code such as the
 *  Markdown renderer that writes classes) and the page script, so only
 *  classes the pages use end up in assets/static/app.css. */
module.exports = {
  content: {
    relative: true,
    files: ['./views/**/*.templ', './views/**/*.go', './assets/static/natter.js'],
  },
  darkMode: 'media',
  theme: {
    extend: {
      fontFamily: {
        sans: ['ui-sans-serif', 'system-ui', '-apple-system', 'Segoe UI', 'Roboto', 'Helvetica Neue', 'Arial', 'sans-serif', 'Apple Color Emoji', 'Segoe UI Emoji', 'Noto Color Emoji'],
      },
    },
  },
  plugins: [],
};
