/**
 * Messages built around one link (verify an address, reset a password): a plain-text body and
 * an HTML body that say the same thing. Everything interpolated into the HTML is escaped.
 */
import type { MailMessage } from './message';

export interface LinkMailContent {
  readonly subject: string;
  /** One or two sentences: why the person gets this mail. */
  readonly lead: string;
  /** The button's words, e.g. "Verify my address". */
  readonly action: string;
  readonly link: string;
  /** What to do if they did not ask for it; how long the link lives. */
  readonly footer: string;
}

export function linkMail(to: string, content: LinkMailContent): MailMessage {
  const text = `${content.lead}\n\n${content.action}: ${content.link}\n\n${content.footer}\n`;
  const html = [
    '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">',
    `<p>${escapeHtml(content.lead)}</p>`,
    `<p><a href="${escapeHtml(content.link)}">${escapeHtml(content.action)}</a></p>`,
    `<p style="color: #555">${escapeHtml(content.footer)}</p>`,
    '</body></html>',
  ].join('\n');
  return { to, subject: content.subject, text, html, link: content.link };
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}
