/**
 * The Device as the server sends it and the page renders it. One definition
 * for both sides so a field added here is seen by the compiler everywhere.
 */
export interface Device {
  /** `esphome.name` (substitutions resolved), else the file stem. */
  name: string;
  friendly_name: string;
  /** The YAML file name inside the config dir: the device's key everywhere. */
  configuration: string;
  comment: string | null;
  area: string | null;
  /** Lower-case platform (esp32, esp8266, rp2040, ...) or null when unknown. */
  target_platform: string | null;
  address: string;
  /** ESPHome version of the last compile (StorageJSON), null if never compiled. */
  deployed_version: string | null;
  /** Absolute build folder from StorageJSON, null if never compiled. */
  build_path: string | null;
  /** Cached apparent size of the build folder; 0 means none / not compiled. */
  build_size_bytes: number;
  /** Allocated size (blocks × 512, hard links once): what `du` and a full disk report. */
  build_disk_bytes: number;
  /** Where the bytes are, and what `esphome clean` would free; null when not measured. */
  build_size_breakdown: BuildSizeBreakdown | null;
  /**
   * When the build folder was last compiled (unix seconds): the mtime of its
   * `build_info.json` as last measured, which ESPHome rewrites exactly when
   * `build_time` changes; null when never measured or no build folder.
   */
  last_compiled: number | null;
  /** Why the YAML could not be read, or null. */
  error: string | null;
}

/** Bytes under a build folder's top-level parts, from the same walk as the total. */
export interface BuildSizeBreakdown {
  pioenvs: number;
  piolibdeps: number;
  src: number;
  /** Everything else, `dependencies.lock` included. */
  other: number;
  /** What `esphome clean` deletes: `.pioenvs`, `.piolibdeps` and `dependencies.lock`. */
  cleanable: number;
}
