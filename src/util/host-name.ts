/**
 * What counts as a DNS host name, for the Host header check
 * (server/host-check.ts) and a job's `--device` port (jobs/device-port.ts).
 */

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Whether `name` is a DNS host name (labels of letters, digits and inner hyphens; ≤ 253 chars). */
export function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase().split('.');
  return labels.every((label) => LABEL.test(label));
}
