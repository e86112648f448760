// Template forms: a field's error element is swapped by htmx as the user types; the input itself
// is left alone (so it keeps focus and caret), and its aria-invalid follows the new error here.
htmx.onLoad((element) => {
  const errors = element.matches?.(".field-error[data-for]") ? [element] : element.querySelectorAll?.(".field-error[data-for]") || [];
  for (const error of errors) {
    const input = document.getElementById(error.dataset.for);
    if (!input) continue;
    if (error.dataset.invalid === "true") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
});
// After a submit that found problems, move focus to the summary so they are read out first.
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("error-summary")?.focus();
});
