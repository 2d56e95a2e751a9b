//! A/B tests of a campaign's subject line: part of the recipients get the campaign's subject,
//! as many get an alternative, and after a wait the subject with more opens goes to the rest.

use plugboard_core::{ConnectorError, Context, HttpRequest, Result, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::activity_path;
use super::lifecycle::ActivityInput;
use crate::api::API;

/// The waits, in hours, the API accepts before it picks the winning subject.
const WINNER_WAITS: [i64; 4] = [6, 12, 24, 48];

/// A campaign's A/B test.
#[output]
pub struct AbTest {
    /// The subject line tried against the campaign's own.
    pub alternative_subject: String,
    /// The percentage of recipients who get each subject.
    pub test_size: i64,
    /// Hours after the test before the winner goes to the rest.
    pub winner_wait_duration: i64,
}

/// Gets the A/B test of a campaign activity; fails with `not_found` when it has none.
#[method(id = "emails.get_ab_test", name = "Get A/B Test", idempotent)]
pub fn get_ab_test(cx: &mut Context<'_>, input: ActivityInput) -> Result<AbTest> {
    let path = format!("{}/abtest", activity_path(&input.campaign_activity_id)?);
    API.call(cx, HttpRequest::get(path))
}

/// Input of `emails.create_ab_test`.
#[input]
pub struct CreateAbTestInput {
    /// The draft campaign's primary email activity.
    #[serde(skip_serializing)]
    pub campaign_activity_id: String,
    /// The subject line to try against the campaign's own.
    #[schemars(length(min = 1))]
    pub alternative_subject: String,
    /// The percentage of recipients who get each subject (5 to 50).
    #[schemars(range(min = 5, max = 50))]
    pub test_size: i64,
    /// Hours after the test before the winner goes to the rest: 6, 12, 24 or 48.
    pub winner_wait_duration: i64,
}

/// Sets up an A/B test of a draft campaign's subject line.
#[method(id = "emails.create_ab_test", name = "Create A/B Test")]
pub fn create_ab_test(cx: &mut Context<'_>, input: CreateAbTestInput) -> Result<AbTest> {
    if !WINNER_WAITS.contains(&input.winner_wait_duration) {
        return Err(ConnectorError::InvalidInput {
            message: format!(
                "`winner_wait_duration` must be 6, 12, 24 or 48 (hours), not {}",
                input.winner_wait_duration
            ),
        });
    }
    let path = format!("{}/abtest", activity_path(&input.campaign_activity_id)?);
    API.create(
        cx,
        HttpRequest::post(path).json(&input)?,
        "an A/B test of this campaign",
    )
}

/// What `emails.delete_ab_test` did.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AbTestDeleted {
    /// The activity whose test is gone; it is sent with its own subject only.
    pub campaign_activity_id: String,
}

/// Removes the A/B test of a campaign activity.
#[method(id = "emails.delete_ab_test", name = "Delete A/B Test", idempotent)]
pub fn delete_ab_test(cx: &mut Context<'_>, input: ActivityInput) -> Result<AbTestDeleted> {
    let path = format!("{}/abtest", activity_path(&input.campaign_activity_id)?);
    API.send(cx, HttpRequest::delete(path))?;
    Ok(AbTestDeleted {
        campaign_activity_id: input.campaign_activity_id,
    })
}
