/* Everything on a wall page that sticks out (returned as a list of sentences): the document
   beyond the screen; a panel whose content is taller or wider than the panel; an element with
   text that is clipped (nowrap, ellipsis, line-clamp) or lies outside its panel or the screen.
   Elements hidden on purpose (display: none, the `hidden` attribute, Bootstrap's
   visually-hidden labels for screen readers) do not count. */
const out = [], vw = innerWidth, vh = innerHeight, de = document.documentElement;
if (de.scrollHeight > vh || de.scrollWidth > vw)
  out.push(`document ${de.scrollWidth}x${de.scrollHeight} on ${vw}x${vh}`);
const name = el => el.id || el.className || el.tagName;
const panels = '.kpi-tile, .panel, .feed-panel';
for (const p of document.querySelectorAll(panels))
  if (p.scrollHeight > p.clientHeight + 1 || p.scrollWidth > p.clientWidth + 1)
    out.push(`panel ${name(p)}: content ${p.scrollWidth}x${p.scrollHeight} in ${p.clientWidth}x${p.clientHeight}`);
for (const el of (document.getElementById('_pages_content') || document.body).querySelectorAll('*')) {
  if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
  if (el.closest('.visually-hidden')) continue;  // for screen readers only: clipped on purpose
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const r = el.getBoundingClientRect(), text = el.textContent.trim().slice(0, 40);
  if (getComputedStyle(el).display !== 'inline'
      && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1))
    out.push(`clipped ${name(el)} "${text}": ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
  if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5)
    out.push(`off screen ${name(el)} "${text}"`);
  const box = el.parentElement.closest(panels);
  if (box) {
    const b = box.getBoundingClientRect();
    if (r.left < b.left - 1 || r.top < b.top - 1 || r.right > b.right + 1 || r.bottom > b.bottom + 1)
      out.push(`outside its panel ${name(el)} "${text}"`);
  }
}
return out;
