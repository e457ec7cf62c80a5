/* The plan of a rollout, wave by wave, and what pilot groups select. */

/** One planned wave of a rollout. @public */
export interface PlannedWave {
  /** Ring name (an extra wave of a ring: `<ring> · wave <n>`). */
  ring: string;
  /** Endpoints in the wave. */
  size: number;
  /** Systems the wave touches, with the endpoints of each. */
  systems: Array<{ systemRef: string; endpoints: number }>;
  /** Endpoints held back so no wave takes too much of one system. */
  heldBack?: number;
  /** The System with the largest share of its endpoints in the wave. */
  largestShare?: {
    systemRef: string;
    endpoints: number;
    of: number;
    /** 0 to 1. */
    share: number;
  };
  /** An extra wave of a ring, spreading Systems the cap held back. */
  extraWave?: boolean;
  /** The wave holds more than the policy's share cap allows. */
  overCap?: boolean;
  /** Soak time in minutes. */
  soakMinutes?: number;
  /** auto or manual promotion. */
  promotion?: 'auto' | 'manual';
}

/** One value of a pilot's attribute, in the pilot and in the fleet. @public */
export interface PilotShareRow {
  value: string;
  pilot: number;
  /** 0 to 1. */
  pilotShare: number;
  fleet: number;
  /** 0 to 1. */
  fleetShare: number;
}

/** What a pilot group selects now and how representative it is. @public */
export interface PilotGroupSelection {
  ref: string;
  /** Endpoints it selects now, sampling applied. */
  count: number;
  /** Enrolled endpoints it selects from. */
  fleet: number;
  endpoints: Array<{
    id: string;
    entityRef?: string;
    hostname?: string;
    systemRef?: string;
    ownerRef?: string;
    osRelease: string;
    site: string;
    deviceType: string;
    department: string;
    tier?: number;
  }>;
  /** More are selected than listed. */
  truncated: boolean;
  /** Share by OS release, site, device type, department, owning team, tier. */
  dimensions: Array<{ dimension: string; rows: PilotShareRow[] }>;
  /** What the pilot misses that the broad ring has, in words. */
  warnings: string[];
}
