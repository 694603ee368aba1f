// Proves the script loaded and ran, and that the stylesheet applied.
document.addEventListener("DOMContentLoaded", () => {
  const h1 = document.querySelector("h1");
  const color = getComputedStyle(h1).color;
  document.getElementById("status").textContent = `js ran; h1 color ${color}`;
  document.body.dataset.loaded = "yes";
});
