// Shapes of the report operations (/api/v1/reports/*), as far as the console reads them.
import type { Id } from '../api/types';

/** A gateway's place: its floor plan → floor → building (any part may be missing). */
export interface Location {
  building_id: Id | null;
  building_name: string | null;
  floor_id: Id | null;
  floor_name: string | null;
  floor_plan_id?: Id | null;
  floor_plan_name?: string | null;
}

interface Totals {
  total_sessions: number;
  total_dwell_seconds: number;
}

export interface Overview {
  summary: {
    from_ts: string;
    to_ts: string;
    total_sessions: number;
    total_unique_tags: number;
    total_unique_devices: number;
    total_unique_people: number;
    total_dwell_seconds: number;
    avg_dwell_seconds: number;
    first_session_at: string | null;
    last_session_at: string | null;
  };
  top_devices: (Totals & { device_id: Id; device_name: string })[];
  top_people: (Totals & { person_id: Id; person_name: string })[];
  top_buildings: (Totals & { building_id: Id; building_name: string })[];
  top_floors: (Totals & { floor_id: Id; floor_name: string; building_id: Id | null; building_name: string | null })[];
  top_groups: (Totals & { group_id: Id; group_name: string })[];
}

export interface DwellByDevice extends Location {
  device_id: Id;
  device_name: string;
  total_dwell_seconds: number;
  sessions_count: number;
  unique_people_count?: number;
}

export interface PersonSummary {
  person_id: Id;
  person_full_name: string;
  from_ts: string;
  to_ts: string;
  total_dwell_seconds: number;
  total_sessions: number;
  first_session_at: string | null;
  last_session_at: string | null;
  dwell_by_device: DwellByDevice[];
  top_device_id: Id | null;
}

export interface TimelineSession extends Location {
  session_id: Id;
  device_id: Id;
  device_name: string;
  tag_id: Id;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number;
  samples_count: number;
  /** Still going on: `ended_at` is the last sighting so far. */
  is_open?: boolean;
}

export interface CalendarBucket {
  bucket_start: string;
  total_dwell_seconds: number;
  sessions_count: number;
}

export interface PersonCalendar {
  granularity: string;
  buckets: CalendarBucket[];
}

export interface HourOfDay {
  buckets: { hour: number; total_dwell_seconds: number; sessions_count: number }[];
}

export interface DayOfWeek {
  buckets: { day_of_week: number; total_dwell_seconds: number; sessions_count: number }[];
}

export interface HourByGateway {
  buckets: { hour: number; device_id: Id; device_name: string; total_dwell_seconds: number; sessions_count: number }[];
}

export interface TypeCount {
  event_type: string;
  alerts_count: number;
}

export interface PersonAlerts {
  total_alerts: number;
  first_alert_at: string | null;
  last_alert_at: string | null;
  by_type: TypeCount[];
  by_device: (Location & { device_id: Id | null; device_name: string | null; alerts_count: number })[];
  events: (Location & { id: Id; event_type: string; device_id: Id | null; device_name: string | null; tag_id: Id | null; started_at: string; ended_at: string | null })[];
}

export interface GroupSummary {
  group_id: Id;
  group_name: string;
  total_dwell_seconds: number;
  total_sessions: number;
  total_unique_people: number;
  first_session_at: string | null;
  last_session_at: string | null;
  dwell_by_device: DwellByDevice[];
  dwell_by_person: { person_id: Id; person_full_name: string; total_dwell_seconds: number; sessions_count: number }[];
}

export interface GatewayUsage {
  total_sessions: number;
  total_dwell_seconds: number;
  total_devices: number;
  gateways: (Location & {
    device_id: Id;
    device_name: string;
    device_mac_address: string | null;
    total_dwell_seconds: number;
    sessions_count: number;
    unique_people_count: number;
    first_session_at: string | null;
    last_session_at: string | null;
  })[];
}

export interface GatewayTimeOfDay {
  buckets: { hour: number; total_dwell_seconds: number; sessions_count: number; unique_people_count: number }[];
}

/** An hourly or calendar bucket of a gateway's or a building's presence. */
export interface PresenceBucket {
  bucket_start: string;
  total_dwell_seconds: number;
  sessions_count: number;
  unique_tags_count: number;
  unique_people_count: number;
}

export interface Occupancy {
  buckets: PresenceBucket[];
  peak: { bucket_start: string | null; unique_people_count: number } | null;
  avg_dwell_seconds: number | null;
  p50_dwell_seconds: number | null;
  p95_dwell_seconds: number | null;
}

export interface Concurrency {
  buckets: { bucket_start: string; peak_concurrency_people: number }[];
}

export interface AlertsSummary {
  total_alerts: number;
  by_type: TypeCount[];
}

export interface TopGateway {
  device_id: Id;
  device_name: string;
  sessions_count: number;
  total_dwell_seconds: number;
  unique_people_count: number;
}

export interface BuildingSummary {
  building_id: Id;
  building_name: string;
  total_sessions: number;
  total_dwell_seconds: number;
  unique_people_count: number;
  unique_tags_count: number;
  avg_dwell_seconds: number | null;
  top_gateways_by_sessions: TopGateway[];
  top_gateways_by_dwell: TopGateway[];
}

export interface DwellSession {
  id: Id;
  device_id: Id;
  tag_id: Id;
  started_at: string;
  ended_at: string | null;
  duration_seconds: number | null;
  samples_count: number;
  is_open?: boolean;
}

/** Bucket lists come bare (buildings) or under `buckets`; either reads the same. */
export function bucketsOf<T>(report: T[] | { buckets?: T[] } | null | undefined): T[] {
  if (!report) return [];
  return Array.isArray(report) ? report : (report.buckets ?? []);
}
