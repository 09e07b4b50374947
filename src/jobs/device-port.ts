/**
 * Which `port` values a firmware upload/install may pass to
 * `esphome ... --device <port>`.
 *
 * Why: the port comes from a WebSocket client and lands on esphome's command
 * line as the value of `--device`. esphome's argument parser takes a value
 * that starts with `-` as the next option, so `--device --help` or
 * `--device -q` changes what esphome does. Only the shapes esphome itself
 * understands are let through:
 *
 * - `OTA` (and any other host name: letters, digits, inner hyphens and dots,
 *   which also covers `MQTT`, `COM3` on Windows and mDNS names);
 * - an IPv4 or IPv6 address;
 * - a serial device path under `/dev/` (letters, digits and `._+:@/-`, no
 *   `..` segment, as in `/dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0`).
 *
 * Nothing accepted can start with `-`, and none of it is interpreted by a
 * shell (jobs are spawned without one).
 */
import { isIP } from 'node:net';
import { isHostName } from '../util/host-name.js';

export const DEVICE_PORT_RULE = 'must be a host name, an IP address, a serial device path (/dev/...) or OTA';

const SERIAL_PATH = /^\/dev\/[A-Za-z0-9._+:@/-]+$/;

export function isValidDevicePort(port: string): boolean {
  if (port.length === 0 || port.length > 255 || port.startsWith('-')) return false;
  if (port === 'OTA' || isIP(port) !== 0 || isHostName(port)) return true;
  return SERIAL_PATH.test(port) && !port.split('/').includes('..');
}
