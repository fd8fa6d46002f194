/* The question editor and the quiz settings, enhanced: the pages work without it.
 *
 * - A numeric answer row shows only the inputs of its kind (value ± tolerance, or range).
 * - A quiz line shows only the question picker, or only the category and count.
 * Hidden inputs keep their values and are still posted; the server ignores them.
 */
(() => {
  "use strict";

  const toggle = (select, groups) => {
    const apply = () => {
      for (const [value, elements] of Object.entries(groups)) {
        for (const element of elements) {
          if (element) element.hidden = select.value !== "" && select.value !== value;
        }
      }
    };
    select.addEventListener("change", apply);
    apply();
  };

  const wrapper = (id) => {
    const input = document.getElementById(id);
    return input ? input.closest(".field") : null;
  };

  for (const select of document.querySelectorAll('select[id$="-mode"][id^="answers-"]')) {
    const key = select.id.slice(0, -"-mode".length);
    toggle(select, {
      value: [wrapper(`${key}-value`), wrapper(`${key}-tolerance`)],
      range: [wrapper(`${key}-min`), wrapper(`${key}-max`)],
    });
  }

  for (const select of document.querySelectorAll('select[id$="-kind"][id^="slot-"]')) {
    const key = select.id.slice(0, -"-kind".length);
    toggle(select, {
      question: [wrapper(`${key}-question`)],
      category: [wrapper(`${key}-category`), wrapper(`${key}-count`)],
    });
  }
})();
