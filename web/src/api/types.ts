// Shapes of the appliance's API (see /api/v1/openapi.json), limited to what the console uses.

export type Id = number;

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
}

export type Role = 'OPERATOR' | 'ADMIN' | 'SUPERADMIN';
export const ROLES: Role[] = ['OPERATOR', 'ADMIN', 'SUPERADMIN'];

export interface User {
  id: Id;
  email: string;
  full_name: string;
  role: string;
  is_active: boolean;
  is_superuser: boolean;
  must_change_password: boolean;
  created_at: string;
  updated_at: string;
}

export interface Building {
  id: Id;
  name: string;
  code: string;
  description: string | null;
}

export interface Floor {
  id: Id;
  building_id: Id;
  name: string;
  level: number | null;
  description: string | null;
}

export interface FloorPlan {
  id: Id;
  floor_id: Id;
  name: string;
  description: string | null;
  image_url: string | null;
  /** Image size in pixels, filled from the uploaded image. */
  width: number | null;
  height: number | null;
  /** Physical size in metres; enables accuracy circles and metric positioning. */
  width_m: number | null;
  height_m: number | null;
}

export type DeviceType = 'BLE_GATEWAY' | 'CAMERA';

export interface Device {
  id: Id;
  name: string;
  type: DeviceType | string;
  code: string | null;
  description: string | null;
  mac_address: string | null;
  ip_address: string | null;
  port: number | null;
  rtsp_url: string | null;
  username: string | null;
  has_password: boolean;
  manufacturer: string | null;
  model: string | null;
  building_id: Id | null;
  floor_id: Id | null;
  floor_plan_id: Id | null;
  pos_x: number | null;
  pos_y: number | null;
  last_seen_at: string | null;
  /** The manufacturer's analytics of a camera (e.g. faceCapture). */
  analytics: string[] | null;
  /** Where a camera's uplink streams (all three needed by uplink/start). */
  proxy_path: string | null;
  central_path: string | null;
  central_media_mtx_ip: string | null;
  /** A gateway's path-loss calibration; null: the site's default. */
  rssi_at_1m: number | null;
  path_loss_exponent: number | null;
}

export interface DeviceStatus {
  id: Id;
  name: string;
  type: string;
  is_online: boolean;
  last_seen_at: string | null;
}

export interface GroupRef {
  id: Id;
  name: string;
}

export interface Person {
  id: Id;
  full_name: string;
  document_id: string | null;
  email: string | null;
  phone: string | null;
  notes: string | null;
  active: boolean;
  groups: GroupRef[];
}

export interface Tag {
  id: Id;
  mac_address: string;
  label: string | null;
  notes: string | null;
  person_id: Id | null;
  active: boolean;
}

export interface UnknownTag {
  mac_address: string;
  last_gateway_id: Id;
  last_heard_at: string;
  last_rssi: number | null;
  times_heard: number;
}

export interface PersonGroup {
  id: Id;
  name: string;
  description: string | null;
}

export type CredentialRole = 'GATEWAY' | 'COLLECTOR' | 'CUSTOM';
export const CREDENTIAL_ROLES: CredentialRole[] = ['GATEWAY', 'COLLECTOR', 'CUSTOM'];

export interface MqttCredential {
  id: Id;
  username: string;
  role: string;
  description: string | null;
  is_active: boolean;
  publish_acl: string[];
  subscribe_acl: string[];
  last_connected_at: string | null;
  /** Only present in the answer to a create or rotate: shown once. */
  password: string | null;
}

/** A row of GET /positions/current. */
export interface CurrentLocation {
  person_id: Id;
  person_full_name: string;
  tag_id: Id;
  tag_mac_address: string;
  device_id: Id;
  floor_plan_id: Id;
  last_seen_at: string;
  x: number | null;
  y: number | null;
  accuracy_m: number | null;
}

/** The payload of a POSITION_CHANGED stream event (src/ingest/locate.rs TagPosition). */
export interface TagPosition {
  tag_id: Id;
  device_id: Id;
  last_seen_at: string;
  rssi: number | null;
  floor_plan_id: Id | null;
  x: number | null;
  y: number | null;
  x_m: number | null;
  y_m: number | null;
  accuracy_m: number | null;
}

/** The payload of GATEWAY_ONLINE / GATEWAY_OFFLINE. */
export interface GatewayStatusPayload {
  device_id: Id;
  name: string;
  last_seen_at: string | null;
}

/** A tagged person near a camera when one of its events happened. */
export interface NearbyPerson {
  person_id: Id;
  full_name: string;
  tag_id: Id;
  /** Null when placed by gateway (plans without a size in metres). */
  distance_m: number | null;
  via: 'position' | 'gateway' | string;
}

/** A row of GET /devices/cameras/{id}/events. */
export interface CameraEvent {
  id: Id;
  device_id: Id;
  topic: string;
  analytic_type: string;
  payload: Record<string, unknown>;
  occurred_at: string;
  created_at: string;
  /** The person a face-recognition event named. */
  person_id: Id | null;
  nearby_people: NearbyPerson[] | null;
}

/** The payload of a CAMERA_EVENT stream event (src/cambus/collector.rs). */
export interface CameraEventNotice {
  event_id: Id;
  device_id: Id;
  camera_name: string;
  camera_code: string | null;
  analytic_type: string;
  occurred_at: string;
  floor_plan_id: Id | null;
  person_id: Id | null;
  nearby_people: NearbyPerson[];
}

/** GET /devices/cameras/{id}/info: the retained configuration and whether the broker has it. */
export interface PublishedInfo {
  topic: string;
  payload: Record<string, unknown>;
  pending: boolean;
  attempts: number;
  last_error: string | null;
  published_at: string | null;
}

/** A row of GET /devices/cameras/collectors. */
export interface CameraCollector {
  tenant: string;
  building: string;
  status: string;
  payload: unknown;
  last_seen_at: string;
  alive: boolean;
}

/** Every stream event's `data`. */
export interface StreamEnvelope<P> {
  event_type: string;
  timestamp: string;
  user_id: Id | null;
  payload: P;
}

/** An outgoing webhook subscription (GET /webhooks). */
export interface Webhook {
  id: Id;
  name: string;
  url: string;
  /** Only in the answer that set it (create, or an update with a new secret): shown once. */
  secret_token: string | null;
  has_secret: boolean;
  /** The original's single type filter; null: none. */
  event_type_filter: string | null;
  /** The types delivered; null: every type. */
  event_types: string[] | null;
  is_active: boolean;
  created_at: string;
  updated_at: string;
}

/** A row of GET /webhooks/event-types. */
export interface WebhookEventType {
  event_type: string;
  label: string;
  description: string;
  sample_payload: unknown;
}

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';
export const DELIVERY_STATUSES: DeliveryStatus[] = ['PENDING', 'DELIVERED', 'FAILED'];

/** A row of a subscription's delivery log (GET /webhooks/{id}/deliveries). */
export interface WebhookDelivery {
  /** The log's id (for re-sending). */
  id: Id;
  webhook_id: Id;
  /** The X-SV-Delivery header receivers see. */
  delivery_id: string;
  event_type: string;
  status: DeliveryStatus | string;
  attempts: number;
  /** When it is tried next (PENDING only). */
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  body: unknown;
}

/** GET /chatwoot/status (administrators): the integration's settings and this node's last calls. */
export interface ChatwootStatus {
  /** Enabled, with a server, account, inbox and token: incidents are mirrored. */
  configured: boolean;
  base_url: string | null;
  /** Inbound calls must carry Chatwoot's HMAC signature (`chatwoot.webhook_secret`). */
  inbound_signed: boolean;
  /** Inbound calls may carry the original's static token (`chatwoot.webhook_token`). */
  inbound_token: boolean;
  /** Deliveries waiting in the outbox. */
  pending: number;
  /** Since this node started. */
  last_success_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
}

export const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

/** A point of a zone, in fractions of the plan image (origin top-left). */
export interface ZonePoint {
  x: number;
  y: number;
}

/** A polygon on a floor plan (GET /zones, /floor-plans/{id}/zones). */
export interface Zone {
  id: Id;
  floor_plan_id: Id;
  name: string;
  color: string | null;
  points: ZonePoint[];
  created_at: string;
  updated_at: string;
}

export interface TimeRange {
  start: string;
  end: string;
}

/** When a rule is armed, in the site's time zone. */
export interface Schedule {
  days: string[];
  ranges: TimeRange[];
}

/** A row of GET /alert-rules. */
export interface AlertRule {
  id: Id;
  name: string;
  description: string | null;
  rule_type: string;
  group_id: Id | null;
  person_id: Id | null;
  device_id: Id | null;
  zone_id: Id | null;
  max_dwell_seconds: number | null;
  max_absence_seconds: number | null;
  is_active: boolean;
  create_incident: boolean;
  incident_kind: string | null;
  incident_severity: string;
  incident_title_template: string | null;
  incident_description_template: string | null;
  incident_sla_minutes: number | null;
  incident_assigned_group_id: Id | null;
  incident_assigned_to_user_id: Id | null;
  incident_auto_close_on_end: boolean;
  schedule: Schedule | null;
  cooldown_seconds: number | null;
  /** Why the engine disabled the rule (a deleted group or gateway). */
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';
export const ALERT_STATUSES: AlertStatus[] = ['open', 'acknowledged', 'resolved'];

/** A row of GET /alert-events. */
export interface AlertEvent {
  id: Id;
  rule_id: Id | null;
  event_type: string;
  person_id: Id | null;
  tag_id: Id | null;
  device_id: Id | null;
  floor_plan_id: Id | null;
  incident_id: Id | null;
  message: string | null;
  /** A JSON document as a string (zone rules: zone_id and zone_name). */
  payload: string | null;
  started_at: string;
  last_seen_at: string;
  ended_at: string | null;
  /** Whether the situation is still going on. */
  is_open: boolean;
  close_reason: string | null;
  /** The operators' step. */
  status: AlertStatus;
  acknowledged_by: Id | null;
  acknowledged_at: string | null;
  acknowledged_note: string | null;
  resolved_by: Id | null;
  resolved_at: string | null;
  resolved_note: string | null;
}

/** The payload of ALERT_OPENED / ALERT_UPDATED / ALERT_CLOSED (the row's columns). */
export interface AlertEventNotice {
  alert_event_id: Id;
  event_type: string;
  floor_plan_id: Id | null;
  tag_id: Id | null;
  zone_id?: Id | null;
  is_open: boolean;
  resolved_at: string | null;
}

export interface UserShort {
  id: Id;
  full_name: string;
  email: string;
}

export interface SupportGroup {
  id: Id;
  name: string;
  description: string | null;
  is_active: boolean;
  default_sla_minutes: number | null;
  members: UserShort[];
}

export interface CameraGroup {
  id: Id;
  name: string;
  description: string | null;
  device_ids: Id[];
}

export const INCIDENT_STATUSES = ['OPEN', 'IN_PROGRESS', 'RESOLVED', 'FALSE_POSITIVE', 'CANCELED'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];
export const INCIDENT_KINDS = ['CAMERA_EVENT', 'CAMERA_OFFLINE', 'CAMERA_FACE', 'CAMERA_INTRUSION', 'CAMERA_TAMPER', 'CAMERA_ISSUE', 'ALERT'];

/** A row of GET /incidents and /incidents/my. */
export interface Incident {
  id: Id;
  device_id: Id | null;
  device_event_id: Id | null;
  kind: string;
  tenant: string | null;
  status: IncidentStatus | string;
  severity: string;
  title: string;
  description: string | null;
  sla_minutes: number | null;
  due_at: string | null;
  /** Past its due time and still active. */
  overdue: boolean;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  assigned_group: GroupRef | null;
  assigned_to_user_id: Id | null;
  assignees: UserShort[];
}

/** A row of an incident's timeline. */
export interface IncidentMessage {
  id: Id;
  incident_id: Id;
  /** TEXT, SYSTEM, MEDIA, OPERATOR. */
  message_type: string;
  content: string;
  /** IMAGE, VIDEO, AUDIO, FILE. */
  media_type: string | null;
  media_url: string | null;
  media_thumb_url: string | null;
  media_name: string | null;
  author_name: string | null;
  created_at: string;
}

/** A row of GET /incident-rules: camera events that open incidents. */
export interface IncidentRule {
  id: Id;
  name: string;
  enabled: boolean;
  analytic_type: string | null;
  device_id: Id | null;
  tenant: string | null;
  severity: string;
  camera_group_id: Id | null;
  title_template: string | null;
  description_template: string | null;
  /** Its camera group was deleted: it applies to no camera until given a scope again. */
  orphaned: boolean;
  assigned_to_user_id: Id | null;
  assigned_group_id: Id | null;
  created_at: string;
  updated_at: string;
}

/** GET /dashboard/summary. */
export interface DashboardSummary {
  total_people: number;
  total_tags: number;
  total_gateways: number;
  gateways_online: number;
  gateways_offline: number;
  active_alert_rules: number;
  recent_alerts_24h: number;
  open_incidents: number;
  overdue_incidents: number;
}
